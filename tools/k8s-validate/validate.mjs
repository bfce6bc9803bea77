// Validates the Helm chart's output and values, with pinned upstream schemas:
//   node validate.mjs manifests FILE...    every object in the YAML streams against the
//       Kubernetes OpenAPI schemas (kubernetes-models, @kubernetes-models/prometheus-operator
//       for the monitoring.coreos.com CRDs), strict: unknown fields are rejected, as
//       `kubeconform -strict` does. The schema check (types, enums, required fields, formats)
//       is the packages' own ajv validator; unknown fields are caught by TypeScript's
//       excess-property check against the same packages' generated types, since those ajv
//       validators accept extra properties.
//   node validate.mjs flags HELP_FILE [--pending=a,b] FILE...  the stocha-server container's
//       args are --name=value flags that `stocha-server --help` (HELP_FILE) lists; probes,
//       container ports and Service target ports agree with --port/--metrics_port. A
//       --pending flag missing from the help is reported, not failed (a flag another branch
//       adds); once the help lists it, it is checked like the rest.
//   node validate.mjs readme SCHEMA README  the README's values table names every value of
//       the schema (down to free-form objects and lists) and nothing else.
//   node validate.mjs values SCHEMA FILE...  each JSON values file against values.schema.json
//       (JSON Schema draft 7, as Helm); exit 1 if any is rejected.
// Exit status: 0 all valid, 1 something invalid (each problem printed), 2 usage.
import { readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import Ajv from "ajv";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// The module that holds the model class of apiVersion/kind.
function modelModule(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return group === "" ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`;
}

function readDocs(file) {
  const docs = [];
  for (const doc of YAML.parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj !== null) docs.push(obj);
  }
  return docs;
}

function checkManifests(files) {
  const problems = [];
  const typed = []; // {label, module, kind, obj}
  for (const file of files) {
    for (const obj of readDocs(file)) {
      const label = `${file}: ${obj.kind}/${obj.metadata?.name}`;
      if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
        problems.push(`${label}: no apiVersion/kind`);
        continue;
      }
      const module = modelModule(obj.apiVersion, obj.kind);
      let Model;
      try {
        Model = require(module)[obj.kind];
      } catch {
        problems.push(`${label}: no schema for ${obj.apiVersion} ${obj.kind}`);
        continue;
      }
      try {
        new Model(obj).validate();
      } catch (e) {
        problems.push(`${label}: ${e.message}`);
      }
      typed.push({ label, module, kind: obj.kind, obj });
    }
  }
  problems.push(...strictFields(typed));
  return { count: typed.length, problems };
}

// Unknown fields: each object becomes a typed object literal in one TypeScript file, which
// tsc checks (TS2353 / TS2561 "Object literal may only specify known properties").
function strictFields(typed) {
  if (typed.length === 0) return [];
  const dir = path.join(here, ".strict");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  const lines = [];
  const ranges = [];
  typed.forEach((t, i) => {
    lines.push(`import type { I${t.kind} as T${i} } from "${t.module}";`);
  });
  typed.forEach((t, i) => {
    const start = lines.length + 1;
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(t.obj, null, 2)};`.split("\n"));
    ranges.push({ start, end: lines.length, label: t.label });
  });
  writeFileSync(path.join(dir, "check.ts"), lines.join("\n") + "\n");
  const tsc = path.join(here, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck",
      "--target", "es2020", "--module", "commonjs", "--moduleResolution", "node",
      path.join(dir, "check.ts")], { encoding: "utf8", stdio: "pipe" });
    return [];
  } catch (e) {
    const out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    const problems = [];
    for (const m of out.matchAll(/check\.ts\((\d+),\d+\): error (TS\d+: .*)/g)) {
      const line = Number(m[1]);
      const r = ranges.find((x) => line >= x.start && line <= x.end);
      problems.push(`${r ? r.label : "check.ts"}: line ${line - (r ? r.start : 0)}: ${m[2]}`);
    }
    if (problems.length === 0) problems.push(`tsc failed: ${out.trim()}`);
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkValues(schemaFile, files) {
  const ajv = new Ajv({ allErrors: true, strict: true });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaFile, "utf8")));
  const problems = [];
  for (const file of files) {
    if (!validate(JSON.parse(readFileSync(file, "utf8")))) {
      for (const err of validate.errors) {
        problems.push(`${file}: ${err.instancePath || "/"} ${err.message}` +
          (err.params?.additionalProperty ? ` (${err.params.additionalProperty})` : ""));
      }
    }
  }
  return { count: files.length, problems };
}

function checkFlags(helpFile, pending, files) {
  const known = new Set([...readFileSync(helpFile, "utf8").matchAll(/^\s+--([a-z0-9_]+) \(/gm)]
    .map((m) => m[1]));
  if (known.size < 10) throw new Error(`${helpFile}: no flags found, not a --help output?`);
  const problems = [];
  let count = 0;
  for (const file of files) {
    const docs = readDocs(file);
    const containerPorts = new Map(); // name -> port, over every stocha-server container
    for (const d of docs.filter((x) => x.kind === "Deployment")) {
      const c = d.spec.template.spec.containers.find((x) => x.name === "stocha-server");
      if (!c) {
        problems.push(`${file}: Deployment ${d.metadata.name}: no stocha-server container`);
        continue;
      }
      count++;
      const flags = new Map();
      for (const a of c.args ?? []) {
        const m = /^--([a-z0-9_]+)=(.*)$/.exec(a);
        if (!m) {
          problems.push(`${file}: arg '${a}' is not --name=value`);
          continue;
        }
        if (flags.has(m[1])) problems.push(`${file}: --${m[1]} given twice`);
        flags.set(m[1], m[2]);
        if (!known.has(m[1])) {
          if (pending.includes(m[1])) {
            console.log(`PENDING --${m[1]}: not in this stocha-server's --help (another branch adds it)`);
          } else {
            problems.push(`${file}: --${m[1]} is not a stocha-server flag`);
          }
        }
      }
      for (const p of c.ports ?? []) containerPorts.set(p.name, p.containerPort);
      const expect = (what, got, want) => {
        if (String(got) !== String(want)) problems.push(`${file}: ${what} is ${got}, expected ${want}`);
      };
      expect("container port grpc", containerPorts.get("grpc"), flags.get("port"));
      if (flags.has("metrics_port")) {
        expect("container port metrics", containerPorts.get("metrics"), flags.get("metrics_port"));
      }
      for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const probe = c[kind];
        if (!probe) {
          problems.push(`${file}: no ${kind}`);
        } else if (probe.grpc) {
          expect(`${kind} gRPC port`, probe.grpc.port, flags.get("port"));
        } else if (probe.tcpSocket) {
          expect(`${kind} TCP port`, containerPorts.get(probe.tcpSocket.port) ?? probe.tcpSocket.port,
            flags.get("port"));
        } else {
          problems.push(`${file}: ${kind} is neither gRPC nor TCP`);
        }
      }
    }
    for (const svc of docs.filter((x) => x.kind === "Service")) {
      for (const p of svc.spec.ports) {
        if (!containerPorts.has(p.targetPort)) {
          problems.push(`${file}: Service ${svc.metadata.name} targets port '${p.targetPort}', ` +
            "which no container names");
        }
      }
    }
  }
  if (count === 0) problems.push("no stocha-server Deployment found");
  return { count, problems };
}

function checkReadme(schemaFile, readmeFile) {
  const paths = [];
  (function walk(schema, prefix) {
    for (const [k, sub] of Object.entries(schema.properties)) {
      const p = prefix ? `${prefix}.${k}` : k;
      if (sub.type === "object" && sub.additionalProperties === false && sub.properties) {
        walk(sub, p);
      } else {
        paths.push(p);
      }
    }
  })(JSON.parse(readFileSync(schemaFile, "utf8")), "");
  const listed = new Set([...readFileSync(readmeFile, "utf8").matchAll(/^\| `([^`]+)` \|/gm)]
    .map((m) => m[1]));
  const problems = paths.filter((p) => !listed.has(p)).map((p) => `${readmeFile}: no row for ${p}`);
  const known = new Set(paths);
  for (const p of listed) if (!known.has(p)) problems.push(`${readmeFile}: ${p} is not a value`);
  return { count: paths.length, problems };
}

const [mode, ...args] = process.argv.slice(2);
let result;
if (mode === "manifests" && args.length > 0) {
  result = checkManifests(args);
} else if (mode === "flags" && args.length > 1) {
  const pendingArg = args.find((a) => a.startsWith("--pending="));
  const pending = pendingArg ? pendingArg.slice("--pending=".length).split(",") : [];
  const rest = args.filter((a) => a !== pendingArg);
  result = checkFlags(rest[0], pending, rest.slice(1));
} else if (mode === "readme" && args.length === 2) {
  result = checkReadme(args[0], args[1]);
} else if (mode === "values" && args.length > 1) {
  result = checkValues(args[0], args.slice(1));
} else {
  console.error("usage: validate.mjs manifests FILE... | flags HELP [--pending=a,b] FILE... | " +
    "readme SCHEMA README | values SCHEMA FILE...");
  process.exit(2);
}
for (const p of result.problems) console.log(`INVALID ${p}`);
console.log(`${mode}: ${result.count} checked, ${result.problems.length} problems`);
process.exit(result.problems.length ? 1 : 0);
