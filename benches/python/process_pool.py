"""Python's ProcessPoolExecutor: round trip and throughput, measured the way
benches/process_pool.rs measures the Rust process pools.

Run by benches/run.sh: python3 process_pool.py OUT.json
"""
import concurrent.futures as cf
import json
import os
import sys
import time

PEER = "Python ProcessPoolExecutor"


def trivial(x):
    return x + 1


def round_trip(workers, samples=20, per_sample=200):
    times = []
    with cf.ProcessPoolExecutor(max_workers=workers) as ex:
        for _ in range(100):  # warm up: start the workers
            ex.submit(trivial, 1).result()
        for _ in range(samples):
            t = time.perf_counter_ns()
            for _ in range(per_sample):
                ex.submit(trivial, 1).result()
            times.append((time.perf_counter_ns() - t) / per_sample)
    return times


def throughput(workers, tasks=5_000, samples=5):
    times = []
    with cf.ProcessPoolExecutor(max_workers=workers) as ex:
        for f in [ex.submit(trivial, i) for i in range(500)]:
            f.result()
        for _ in range(samples):
            t = time.perf_counter_ns()
            fs = [ex.submit(trivial, i) for i in range(tasks)]
            for f in fs:
                f.result()
            times.append((time.perf_counter_ns() - t) / tasks)
    return times


def main():
    out = sys.argv[1]
    cores = os.cpu_count() or 1
    results = []
    for w in ([1, cores] if cores > 1 else [1]):
        results.append({"group": "process_round_trip", "peer": PEER, "param": str(w), "samples_ns": round_trip(w)})
        print(f"python process_round_trip/{w}: {sorted(results[-1]['samples_ns'])[10] / 1000:.1f} us", flush=True)
    results.append({"group": "process_throughput", "peer": PEER, "param": str(cores), "samples_ns": throughput(cores)})
    print(f"python process_throughput/{cores}: {1e9 / sorted(results[-1]['samples_ns'])[2]:.0f} tasks/s", flush=True)
    with open(out, "w") as f:
        json.dump({"python": sys.version.split()[0], "results": results}, f)


if __name__ == "__main__":
    main()
