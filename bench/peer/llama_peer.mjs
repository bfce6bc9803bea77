// llama.cpp (prebuilt, through node-llama-cpp) greedy decode of one GGUF file, timed by
// llama.cpp's own counters (llama_perf_context), printed as one JSON line.
//
//   node llama_peer.mjs --model F.gguf --threads N --prompt-ids 1,403,407 --tokens K
//
// Prints {"tokens": [K generated ids], "eval_ms", "eval_runs", "tok_s", "prompt_ms", ...}.
// Never builds or downloads llama.cpp: only the binaries of @node-llama-cpp/linux-x64.
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

function parseArgs(argv) {
    const a = {model: "", threads: 1, promptIds: [], tokens: 64, verbose: false};
    for (let i = 0; i < argv.length; ++i) {
        const key = argv[i], value = argv[i + 1];
        if (key === "--model") a.model = value, ++i;
        else if (key === "--threads") a.threads = Number(value), ++i;
        else if (key === "--prompt-ids") a.promptIds = value.split(",").map(Number), ++i;
        else if (key === "--tokens") a.tokens = Number(value), ++i;
        else if (key === "--verbose") a.verbose = true;
        else throw new Error(`llama_peer: unknown argument ${key}`);
    }
    if (!a.model || a.promptIds.length === 0 || !(a.threads >= 1) || !(a.tokens >= 1))
        throw new Error("usage: llama_peer.mjs --model F --threads N --prompt-ids a,b,c --tokens K");
    return a;
}

// "llama_perf_context_print:        eval time =     123.45 ms /    63 runs   (...)"
function parseTiming(lines, what) {
    const re = new RegExp(`llama_perf_context_print:\\s+${what} time =\\s+([0-9.]+) ms /\\s+(\\d+)`);
    for (const line of lines) {
        const m = re.exec(line);
        if (m) return {ms: Number(m[1]), count: Number(m[2])};
    }
    return null;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const log = [];
    const llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
        logLevel: LlamaLogLevel.info,
        logger: (level, message) => {
            log.push(message);
            if (args.verbose) process.stderr.write(message + (message.endsWith("\n") ? "" : "\n"));
        }
    });
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
    const context = await model.createContext({
        contextSize: args.promptIds.length + args.tokens + 16, sequences: 1,
        threads: args.threads, batchSize: Math.max(args.promptIds.length, 8),
        performanceTracking: true
    });
    const sequence = context.getSequence();
    const tokens = [];
    // temperature 0 = greedy; end-of-generation tokens are kept, so K tokens always come.
    for await (const token of sequence.evaluate(args.promptIds, {temperature: 0, yieldEogToken: true})) {
        tokens.push(token);
        if (tokens.length >= args.tokens) break;
    }
    log.length = 0;
    await context.printTimings();
    const evalT = parseTiming(log, "eval"), promptT = parseTiming(log, "prompt eval");
    if (evalT == null) throw new Error("llama_peer: no llama_perf_context eval line in:\n" + log.join(""));
    console.log(JSON.stringify({
        tokens, eval_ms: evalT.ms, eval_runs: evalT.count,
        tok_s: evalT.count > 0 ? evalT.count / (evalT.ms / 1000) : 0,
        prompt_ms: promptT ? promptT.ms : null, prompt_tokens: promptT ? promptT.count : null,
        threads: args.threads, system_info: llama.systemInfo ?? ""
    }));
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch((e) => {
    console.error(String(e && e.stack || e));
    process.exit(1);
});
