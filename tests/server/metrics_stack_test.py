#!/usr/bin/python3
"""The metrics stack checked by the real tools: a real stocha-server scraped by a real
Prometheus (Debian `prometheus`), every dashboard and alert expression run through
Prometheus's HTTP API, promtool on a live scrape and on the rules (issue 11).

ctest runs it (label `metrics`); exit 77 = skipped (no ../shared test model).
  /usr/bin/python3 tests/server/metrics_stack_test.py --server build/server/stocha-server \
      --source . --shared ../shared
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

SCRAPE_S = 1
RATE = "5s"  # $__rate_interval: a few scrape intervals
GEN_RPCS = ("Generate", "GenerateStream", "MultiSample")
CODE_NAMES = {}  # grpc.StatusCode -> "OK", ...


class Failures:
    def __init__(self):
        self.items = []

    def check(self, cond, what):
        if not cond:
            self.items.append(what)
            print("FAIL:", what, flush=True)
        return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_file(path, proc, what, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early")
        if time.time() > end:
            raise RuntimeError(f"{what}: no {path} in time")
        time.sleep(0.05)
    return int(open(path).read().strip())


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Prom:
    def __init__(self, base):
        self.base = base

    def _get(self, path, params):
        url = self.base + path + "?" + urllib.parse.urlencode(params)
        try:
            return json.loads(http_get(url))
        except urllib.error.HTTPError as e:
            return json.loads(e.read().decode())

    def query(self, expr, t=None):
        params = {"query": expr}
        if t is not None:
            params["time"] = f"{t:.3f}"
        return self._get("/api/v1/query", params)

    def query_range(self, expr, start, end, step=1):
        return self._get("/api/v1/query_range",
                         {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": step})

    def vector(self, expr, t=None):
        r = self.query(expr, t)
        if r.get("status") != "success":
            raise RuntimeError(f"query failed: {expr}: {r}")
        return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in r["data"]["result"]}


def start_server(args, work, name, extra):
    d = os.path.join(work, name)
    os.makedirs(d)
    model = os.path.join(args.shared, "data/stories260K")
    cmd = [args.server, f"--model={model}/stories260K.bin", f"--tokenizer={model}/tok512.bin",
           "--host=127.0.0.1", "--port=0", f"--port_file={d}/port", "--threads=1",
           "--metrics_host=127.0.0.1", "--metrics_port=0", f"--metrics_port_file={d}/mport",
           *extra]
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    port = wait_file(f"{d}/port", proc, name)
    mport = wait_file(f"{d}/mport", proc, name)
    return proc, port, mport, os.path.join(d, "log")


def start_prometheus(work, targets, rules):
    d = os.path.join(work, "prom")
    os.makedirs(d)
    shutil.copy(rules, os.path.join(d, "alerts.yml"))
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write(f"global:\n  scrape_interval: {SCRAPE_S}s\n  evaluation_interval: {SCRAPE_S}s\n"
                "rule_files:\n  - alerts.yml\nscrape_configs:\n  - job_name: stocha\n"
                "    static_configs:\n      - targets: [" +
                ", ".join(f'"127.0.0.1:{p}"' for p in targets) + "]\n")
    port = free_port()
    log = open(os.path.join(d, "log"), "w")
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/data",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    end = time.time() + 60
    while True:
        try:
            if "Ready" in http_get(base + "/-/ready", timeout=2):
                break
        except Exception:
            pass
        if proc.poll() is not None or time.time() > end:
            raise RuntimeError("prometheus did not become ready:\n" + open(f"{d}/log").read())
        time.sleep(0.2)
    return proc, Prom(base)


class Client:
    """Every call through here; tallies what the client saw by (rpc, code)."""

    def __init__(self, target, pb, grpc):
        self.pb, self.grpc = pb, grpc
        self.channel = grpc.insecure_channel(target)
        self.tally = {}
        self.lock = threading.Lock()
        self.tokens_received = 0
        self.responses = []  # (activation kind, sparsity message) of OK generation calls
        self.prompt_computed = 0

    def _count(self, rpc, code):
        with self.lock:
            self.tally[(rpc, CODE_NAMES[code])] = self.tally.get((rpc, CODE_NAMES[code]), 0) + 1

    def unary(self, rpc, req, resp_cls, timeout=60):
        call = self.channel.unary_unary(f"/stocha.v1.Stocha/{rpc}",
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=resp_cls.FromString)
        try:
            resp = call(req, timeout=timeout)
            self._count(rpc, self.grpc.StatusCode.OK)
            return resp, self.grpc.StatusCode.OK
        except self.grpc.RpcError as e:
            self._count(rpc, e.code())
            return None, e.code()

    def stream(self, rpc, req, timeout=60, cancel_after=0):
        call = self.channel.unary_stream(f"/stocha.v1.Stocha/{rpc}",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=self.pb.GenerateChunk.FromString)
        it = call(req, timeout=timeout)
        tokens, summary, n = 0, None, 0
        try:
            for chunk in it:
                n += 1
                tokens += len(chunk.token_ids)
                if chunk.HasField("summary"):
                    summary = chunk.summary
                if cancel_after and n >= cancel_after:
                    it.cancel()
            code = self.grpc.StatusCode.OK
        except self.grpc.RpcError as e:
            code = e.code()
        self._count(rpc, code)
        return tokens, summary, code

    def generation(self, rpc, req, kind):
        """An OK generation call whose tokens and sparsity the checks add up."""
        if rpc == "Generate":
            resp, code = self.unary(rpc, req, self.pb.GenerateResponse)
            tokens = sum(len(s.token_ids) for s in resp.samples) if resp else 0
        else:
            tokens, resp, code = self.stream(rpc, req)
        if code != self.grpc.StatusCode.OK or resp is None:
            raise RuntimeError(f"{rpc} {kind}: {code}")
        with self.lock:
            self.tokens_received += tokens
            self.prompt_computed += resp.usage.prompt_tokens_computed
            self.responses.append((kind, resp.sparsity))
        return resp


def gen_request(pb, prompt, max_new, kind, n=1, seed=1):
    r = pb.GenerateRequest(prompt=prompt, max_new_tokens=max_new, n=n, ignore_eos=True)
    r.sampling.temperature = 0.8
    r.sampling.seed = seed
    if kind:
        r.activation.kind = kind
    return r


def traffic(c, pb, grpc):
    """Phase A: every RPC and activation mode, all OK. Phase B: refusals and errors."""
    for i, kind in enumerate(("relu", "silu", "stocha")):
        c.generation("Generate", gen_request(pb, "Once upon a time", 12, kind, seed=i), kind)
        c.generation("GenerateStream", gen_request(pb, "The cat sat", 10, kind, seed=i), kind)
        c.generation("MultiSample", gen_request(pb, "A little dog", 8, kind, n=2, seed=i), kind)
    c.unary("Tokenize", pb.TokenizeRequest(text="Hello there"), pb.TokenizeResponse)
    c.unary("Detokenize", pb.DetokenizeRequest(token_ids=[1, 2, 3]), pb.DetokenizeResponse)
    c.unary("GetModelInfo", pb.GetModelInfoRequest(), pb.ModelInfo)
    c.unary("GetLoad", pb.GetLoadRequest(), pb.Load)


def refusals(c, pb, grpc):
    bad = gen_request(pb, "Hi", 4, "relu")
    bad.sampling.temperature = -1
    c.unary("Generate", bad, pb.GenerateResponse)  # INVALID_ARGUMENT
    c.unary("Generate", gen_request(pb, "Once upon a time", 400, "relu"), pb.GenerateResponse,
            timeout=0.2)  # DEADLINE_EXCEEDED
    c.stream("GenerateStream", gen_request(pb, "Once upon a time", 400, "stocha"),
             cancel_after=1)  # CANCELLED
    threads = [threading.Thread(target=c.stream,
                                args=("MultiSample", gen_request(pb, "Hi", 60, "silu", n=2)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def counter_sum(prom, expr, t):
    v = prom.vector(expr, t)
    return sum(v.values())


def wait_scraped(prom, instance, expect_calls, timeout=30):
    """Until Prometheus holds a scrape that counts every call the client made."""
    end = time.time() + timeout
    while time.time() < end:
        v = prom.vector(f'sum(stocha_requests_total{{instance="{instance}",rpc!="other"}})')
        if v and list(v.values())[0] >= expect_calls:
            time.sleep(SCRAPE_S * 1.5)
            return time.time()
        time.sleep(0.3)
    raise RuntimeError("Prometheus never saw all calls")


def fill(expr, instance, model):
    return (expr.replace("$__rate_interval", RATE).replace("$__interval", "1s")
            .replace("$instance", instance).replace("$model", model))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--protoc", default="protoc")
    ap.add_argument("--predictor-tool", help="stocha-predictor: a second server with a "
                    "fitted predictor, so the predictor path has data")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.shared, "data/stories260K/stories260K.bin")):
        print("SKIP: no ../shared/data/stories260K (a user's clone)")
        return 77
    t_begin = time.time()
    work = tempfile.mkdtemp(prefix="stocha-metrics-stack-")
    subprocess.check_call([args.protoc, f"--python_out={work}", "-I",
                           os.path.join(args.source, "proto"),
                           os.path.join(args.source, "proto/stocha/v1/stocha.proto")])
    sys.path.insert(0, work)
    import grpc  # Debian python3-grpcio
    from stocha.v1 import stocha_pb2 as pb
    for code in grpc.StatusCode:
        CODE_NAMES[code] = code.name
    deploy = os.path.join(args.source, "deploy")
    fails = Failures()
    procs = []
    try:
        server, port, mport, log = start_server(
            args, work, "server",
            ["--max_batch_size=2", "--max_queue=1", "--expected_sparsity_min=0.05"])
        procs.append(server)
        mports = [mport]
        if args.predictor_tool:
            data = os.path.join(args.shared, "data")
            pred = os.path.join(work, "predictor.bin")
            subprocess.check_call(
                [args.predictor_tool, "fit", "--model", f"{data}/stories260K/stories260K.bin",
                 "--tokenizer", f"{data}/stories260K/tok512.bin", "--text",
                 f"{data}/corpora/tinystories_train_head.txt", "--rank", "8", "--tokens", "512",
                 "--out", pred], stdout=subprocess.DEVNULL)
            pserver, pport, pmport, _ = start_server(args, work, "predicted",
                                                     [f"--predictor={pred}"])
            procs.append(pserver)
            mports.append(pmport)
        prom_proc, prom = start_prometheus(work, mports,
                                           os.path.join(deploy, "prometheus/alerts.yml"))
        procs.append(prom_proc)
        instance = f"127.0.0.1:{mport}"
        c = Client(f"127.0.0.1:{port}", pb, grpc)
        info, _ = c.unary("GetModelInfo", pb.GetModelInfoRequest(), pb.ModelInfo)
        F = info.intermediate_size
        end = time.time() + 60
        while not prom.vector(f'stocha_ready{{instance="{instance}"}} == 1'):
            if time.time() > end:
                raise RuntimeError("no ready scrape:\n" + open(log).read())
            time.sleep(0.2)
        t0 = wait_scraped(prom, instance, 1)
        traffic(c, pb, grpc)
        t1 = wait_scraped(prom, instance, sum(c.tally.values()))

        # Tokens counted = tokens the clients received (all OK, ignore_eos: no stop tokens).
        sel = f'{{instance="{instance}"}}'
        gen = counter_sum(prom, f"stocha_generated_tokens_total{sel}", t1) - \
            counter_sum(prom, f"stocha_generated_tokens_total{sel}", t0)
        fails.check(gen == c.tokens_received and gen > 0,
                    f"generated tokens: metrics {gen}, clients received {c.tokens_received}")
        prompt = counter_sum(prom, f"stocha_prompt_tokens_computed_total{sel}", t1) - \
            counter_sum(prom, f"stocha_prompt_tokens_computed_total{sel}", t0)
        fails.check(prompt == c.prompt_computed,
                    f"prompt tokens: metrics {prompt}, responses {c.prompt_computed}")

        # Per-layer sparsity from PromQL = the responses' (same requests), per phase and
        # activation mode, and per phase over all modes.
        checked = 0
        for phase in ("prompt", "generated"):
            for kinds in (("relu",), ("silu",), ("stocha",), ("relu", "silu", "stocha")):
                want = {}  # layer -> [zeros, total]
                for kind, sp in c.responses:
                    if kind not in kinds:
                        continue
                    for ls in sp.layers:
                        tok = ls.prompt_tokens if phase == "prompt" else ls.generated_tokens
                        s = ls.prompt_sparsity if phase == "prompt" else ls.generated_sparsity
                        w = want.setdefault(str(ls.layer), [0.0, 0.0])
                        w[0] += s * tok * F
                        w[1] += tok * F
                act = "|".join(kinds)
                z1 = prom.vector(f'sum by (layer) (stocha_ffn_activations_zero_total{{instance="{instance}",phase="{phase}",activation=~"{act}"}})', t1)
                z0 = prom.vector(f'sum by (layer) (stocha_ffn_activations_zero_total{{instance="{instance}",phase="{phase}",activation=~"{act}"}})', t0)
                n1 = prom.vector(f'sum by (layer) (stocha_ffn_activations_total{{instance="{instance}",phase="{phase}",activation=~"{act}"}})', t1)
                n0 = prom.vector(f'sum by (layer) (stocha_ffn_activations_total{{instance="{instance}",phase="{phase}",activation=~"{act}"}})', t0)
                for key in n1:
                    layer = dict(key)["layer"]
                    tot = n1[key] - n0.get(key, 0)
                    zer = z1[key] - z0.get(key, 0)
                    wz, wt = want.get(layer, [0.0, 0.0])
                    fails.check(abs(tot - wt) < 0.5, f"{phase} {act} layer {layer}: total {tot} vs {wt}")
                    if wt > 0:
                        got, exp = zer / tot, wz / wt
                        fails.check(abs(got - exp) <= 1e-6,
                                    f"{phase} {act} layer {layer}: sparsity {got} vs responses {exp}")
                        checked += 1
        fails.check(checked >= 10, f"only {checked} layer sparsities compared")
        print(f"per-layer sparsity: {checked} (layer, phase, activation) values equal the responses'")

        if args.predictor_tool:  # ReLU traffic on the predictor server
            pc = Client(f"127.0.0.1:{pport}", pb, grpc)
            for i in range(3):
                pc.generation("Generate", gen_request(pb, "Once upon a time", 16, "relu", seed=i),
                              "relu")
            pinst = f"127.0.0.1:{pmport}"
            end = time.time() + 30
            while not prom.vector(f'sum(stocha_ffn_calls_total{{instance="{pinst}",path="predictor"}}) > 0'):
                fails.check(time.time() < end, "no predictor-path FFN calls scraped")
                if time.time() > end:
                    break
                time.sleep(0.3)

        # Refusals, errors, cancels; then every call counted once with its final code.
        refusals(c, pb, grpc)
        fails.check(c.tally.get(("MultiSample", "RESOURCE_EXHAUSTED"), 0) > 0, "no queue refusal")
        c.unary("GetLoad", pb.GetLoadRequest(), pb.Load)
        time.sleep(0.5)  # a cancelled stream's server side may end just after the client's
        t2 = wait_scraped(prom, instance, sum(c.tally.values()))
        got = {(dict(k)["rpc"], dict(k)["code"]): v for k, v in
               prom.vector(f'stocha_requests_total{{instance="{instance}",rpc!="other"}} > 0', t2).items()}
        want = {k: v for k, v in c.tally.items()}
        fails.check(got == want, f"requests by (rpc, code): metrics {sorted(got.items())} "
                                 f"vs clients {sorted(want.items())}")

        # Every dashboard panel query: parses, returns data over the test window.
        dash = json.load(open(os.path.join(deploy, "grafana/dashboards/stocha.json")))
        models = prom.vector(f'stocha_model_info{{instance="{instance}"}}')
        fails.check(len(models) == 1, "stocha_model_info: one series")
        model = dict(list(models)[0])["model"] if models else ""
        report = []
        # $instance as Grafana fills a multi-value variable: both servers.
        all_instances = "|".join(f"127.0.0.1:{p}" for p in mports)
        for p in dash["panels"]:
            for t in p.get("targets", []):
                expr = fill(t["expr"], all_instances, model)
                r = prom.query_range(expr, t0 - 5, time.time(), 1)
                ok = r.get("status") == "success"
                n = len(r["data"]["result"]) if ok else 0
                nonempty = ok and any(len(s["values"]) > 0 for s in r["data"]["result"])
                fails.check(ok, f"panel '{p['title']}' {t['refId']}: {r.get('error')}")
                fails.check(nonempty, f"panel '{p['title']}' {t['refId']}: no data: {expr}")
                report.append((p["title"], t["refId"], n, t["expr"]))
        # The template variables' queries (label_values) as Grafana runs them: series exist.
        fails.check(len(prom.vector('stocha_model_info{model=~"' + model + '"}')) >= 1,
                    "template variables: no stocha_model_info for $model")

        # Every alert expression parses and runs; the rules load healthy.
        rules = json.loads(http_get(prom.base + "/api/v1/rules"))
        n_rules = 0
        for g in rules["data"]["groups"]:
            for r in g["rules"]:
                n_rules += 1
                fails.check(r.get("health") == "ok", f"rule {r['name']}: {r.get('lastError')}")
                q = prom.query(r["query"])
                fails.check(q.get("status") == "success", f"rule {r['name']}: {q.get('error')}")
                if r["name"] == "StochaRefusingRequests":  # the test refused about 1 in 4
                    fails.check(q.get("status") == "success" and len(q["data"]["result"]) == 1,
                                "StochaRefusingRequests' expression does not see the refusals")
                report.append(("alert " + r["name"], "-",
                               len(q["data"]["result"]) if q.get("status") == "success" else -1,
                               r["query"]))
        fails.check(n_rules == 6, f"{n_rules} rules loaded, want 6")

        # promtool on a live scrape, and on the rules with their unit tests.
        scrape = http_get(f"http://{instance}/metrics")
        pc = subprocess.run(["promtool", "check", "metrics"], input=scrape, text=True,
                            capture_output=True)
        fails.check(pc.returncode == 0 and not pc.stdout.strip() and not pc.stderr.strip(),
                    f"promtool check metrics: {pc.stdout}{pc.stderr}")
        pr = subprocess.run(["promtool", "check", "rules", "alerts.yml"],
                            cwd=os.path.join(deploy, "prometheus"), capture_output=True, text=True)
        fails.check(pr.returncode == 0, f"promtool check rules: {pr.stdout}{pr.stderr}")
        pt = subprocess.run(["promtool", "test", "rules", "alerts_test.yml"],
                            cwd=os.path.join(deploy, "prometheus"), capture_output=True, text=True)
        fails.check(pt.returncode == 0, f"promtool test rules: {pt.stdout}{pt.stderr}")
        try:
            http_get(f"http://{instance}/other")
            fails.check(False, "unknown path on the metrics port answered")
        except urllib.error.HTTPError as e:
            fails.check(e.code == 404, f"unknown path: HTTP {e.code}, want 404")

        print("\nquery results (series over the test window):")
        for title, ref, n, expr in report:
            print(f"  {n:3d}  {title} [{ref}]: {' '.join(expr.split())}")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        if not fails.items:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nmetrics stack test: {len(fails.items)} failures, {time.time() - t_begin:.1f} s")
    return 1 if fails.items else 0


if __name__ == "__main__":
    sys.exit(main())
