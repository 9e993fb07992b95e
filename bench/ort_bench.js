#!/usr/bin/env node
// ort_bench.js - time one ONNX model in ONNX Runtime (npm onnxruntime-node, CPU execution
// provider), and in the same process a one-node Identity model, whose latency is the
// per-call cost of going through Node (N-API, tensor wrapping, the promise, copying the
// output back into JavaScript) and not inference.
//
//   node bench/ort_bench.js --model M.onnx --input M_input.npy --identity ID.onnx \
//        [--runs 1000] [--warmup 50] [--threads 1] [--reference M_output.npy] [--json OUT.json]
//
// Session options: intraOpNumThreads = --threads, interOpNumThreads = 1, sequential
// execution, graphOptimizationLevel 'all', CPU EP only. Each run is one `await
// session.run()` timed with process.hrtime.bigint(); the output bytes of every run (warm-up
// included) are hashed (SHA-256, outside the timed region) and compared with the first.
// The Identity model's input is a tensor of the same shape as the model's (the script
// that makes it: bench/make_identity.py), timed the same way right after the model.
// Prints (and with --json writes) JSON: the same latency fields as `lockstep bench`.
'use strict';

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

function usage(msg) {
  process.stderr.write(`ort_bench.js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const a = { runs: 1000, warmup: 50, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k.startsWith('--') || v === undefined) usage(`bad argument ${k}`);
    const key = k.slice(2);
    if (['runs', 'warmup', 'threads'].includes(key)) {
      a[key] = Number(v);
      if (!Number.isInteger(a[key]) || a[key] < (key === 'warmup' ? 0 : 1)) usage(`${k} takes a whole number`);
    } else if (['model', 'input', 'identity', 'reference', 'json'].includes(key)) {
      a[key] = v;
    } else usage(`unknown option ${k}`);
    i++;
  }
  if (!a.model || !a.input) usage('needs --model and --input');
  return a;
}

// A tiny .npy reader: format versions 1-3, little-endian float32 / float64 / int64 / int32,
// C order. Returns { dtype, shape, data } with data a typed array over a copy of the bytes.
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  let hlen, hoff;
  if (major === 1) { hlen = buf.readUInt16LE(8); hoff = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hoff = 12; }
  else throw new Error(`${file}: .npy version ${major} not supported`);
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', hoff, hoff + hlen);
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: bad .npy header ${header}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran order not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const types = {
    '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
    '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array], '|u1': ['uint8', Uint8Array],
  };
  const t = types[descr[1]];
  if (!t) throw new Error(`${file}: dtype ${descr[1]} not supported`);
  const count = dims.reduce((x, y) => x * y, 1);
  const start = hoff + hlen;
  const bytes = count * t[1].BYTES_PER_ELEMENT;
  if (buf.length < start + bytes) throw new Error(`${file}: truncated`);
  const ab = new ArrayBuffer(bytes);
  new Uint8Array(ab).set(buf.subarray(start, start + bytes));
  return { dtype: t[0], shape: dims, data: new t[1](ab) };
}

function percentile(sorted, q) {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  if (lo >= sorted.length - 1) return sorted[sorted.length - 1];
  return sorted[lo] + (at - lo) * (sorted[lo + 1] - sorted[lo]);
}

function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  const mean = samples.reduce((x, y) => x + y, 0) / n;
  const variance = n > 1 ? samples.reduce((x, y) => x + (y - mean) * (y - mean), 0) / (n - 1) : 0;
  const r = (x) => Math.round(x * 1000) / 1000;
  return {
    min: r(s[0]), p50: r(percentile(s, 0.5)), p90: r(percentile(s, 0.9)), p99: r(percentile(s, 0.99)),
    p999: r(percentile(s, 0.999)), max: r(s[n - 1]), mean: r(mean), std: r(Math.sqrt(variance)),
  };
}

function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

function outputBytes(t) {
  const d = t.data;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

async function timeSession(ort, file, x, runs, warmup, threads) {
  const session = await ort.InferenceSession.create(file, sessionOptions(threads));
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  const feeds = { [inName]: new ort.Tensor(x.dtype, x.data, x.shape) };
  const samples = new Array(runs);
  let first = null;
  let identical = true;
  let last = null;
  for (let r = -warmup; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds);
    const t1 = process.hrtime.bigint();
    const y = out[outName];
    const h = crypto.createHash('sha256').update(outputBytes(y)).digest('hex');
    if (first === null) first = h;
    else if (h !== first) identical = false;
    if (r >= 0) samples[r] = Number(t1 - t0) / 1000;
    last = y;
  }
  if (typeof session.release === 'function') await session.release();
  return { samples, identical, hash: first, output: last, inName, outName };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = require('onnxruntime-node');
  const x = readNpy(a.input);
  const m = await timeSession(ort, a.model, x, a.runs, a.warmup, a.threads);
  const result = {
    runtime: 'onnxruntime-node',
    version: ort.env && ort.env.versions ? ort.env.versions.node || ort.env.versions.common : null,
    node: process.version,
    model: a.model,
    threads: a.threads,
    session_options: sessionOptions(a.threads),
    runs: a.runs,
    warmup: a.warmup,
    input_shape: x.shape,
    output_shape: m.output.dims,
    latency_us: stats(m.samples),
    identical: m.identical,
    output_hash: m.hash,
  };
  if (a.reference) {
    const ref = readNpy(a.reference);
    const y = m.output.data;
    let maxd = 0, maxr = 0;
    for (let i = 0; i < ref.data.length; i++) {
      maxd = Math.max(maxd, Math.abs(y[i] - ref.data[i]));
      maxr = Math.max(maxr, Math.abs(ref.data[i]));
    }
    result.max_abs_diff_vs_reference = maxd;
    result.max_rel_diff_vs_reference = maxr > 0 ? maxd / maxr : maxd;
  }
  if (a.identity) {
    const id = await timeSession(ort, a.identity, x, a.runs, a.warmup, a.threads);
    result.identity = {
      model: a.identity, input_shape: x.shape, latency_us: stats(id.samples), identical: id.identical,
      samples_us: id.samples.map((v) => Math.round(v * 1000) / 1000),
    };
    result.overhead_us = result.identity.latency_us.p50;
    result.latency_minus_overhead_us = {};
    for (const [k, v] of Object.entries(result.latency_us)) {
      if (k !== 'std') result.latency_minus_overhead_us[k] = Math.round((v - result.overhead_us) * 1000) / 1000;
    }
  }
  result.samples_us = m.samples.map((v) => Math.round(v * 1000) / 1000);
  const text = JSON.stringify(result);
  if (a.json) fs.writeFileSync(a.json, text + '\n');
  const l = result.latency_us;
  process.stderr.write(`ort ${path.basename(a.model)} T=${a.threads}: p50 ${l.p50} us p99 ${l.p99} us` +
    (a.identity ? `, identity p50 ${result.overhead_us} us` : '') + `, identical ${m.identical}\n`);
  if (!a.json) process.stdout.write(text + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_bench.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
