"""Python's ThreadPoolExecutor: round trip, throughput and bytes per pending
task, measured the way benches/thread_pool.rs and benches/memory.rs measure
futurepool, as the reference Python users know.

Run by benches/run.sh: python3 thread_pool.py OUT.json
"""
import concurrent.futures as cf
import json
import os
import subprocess
import sys
import threading
import time

PEER = "Python ThreadPoolExecutor"


def trivial():
    return 1


def cores():
    return os.cpu_count() or 1


def round_trip(workers, samples=20, per_sample=1000):
    times = []
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        for _ in range(200):  # warm up: start the workers
            ex.submit(trivial).result()
        for _ in range(samples):
            t = time.perf_counter_ns()
            for _ in range(per_sample):
                ex.submit(trivial).result()
            times.append((time.perf_counter_ns() - t) / per_sample)
    return times


def throughput(workers, submitters, tasks=100_000, samples=3):
    times = []
    with cf.ThreadPoolExecutor(max_workers=workers) as ex:
        def one(n):
            fs = [ex.submit(trivial) for _ in range(n)]
            for f in fs:
                f.result()

        one(1000)
        for _ in range(samples):
            t = time.perf_counter_ns()
            if submitters == 1:
                one(tasks)
            else:
                ts = [threading.Thread(target=one, args=(tasks // submitters,)) for _ in range(submitters)]
                for th in ts:
                    th.start()
                for th in ts:
                    th.join()
            times.append((time.perf_counter_ns() - t) / tasks)
    return times


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def memory_child(tasks=200_000):
    gate = threading.Event()
    started = threading.Event()

    def blocker():
        started.set()
        gate.wait()

    ex = cf.ThreadPoolExecutor(max_workers=1)
    ex.submit(blocker)
    started.wait()
    before = peak_rss()
    fs = [ex.submit(trivial) for _ in range(tasks)]
    after = peak_rss()
    print((after - before) / tasks)
    sys.stdout.flush()
    os._exit(0)


def main():
    if sys.argv[1] == "--memory":
        memory_child()
    out = sys.argv[1]
    results = []
    workers_list = [1, cores()] if cores() > 1 else [1]
    for w in workers_list:
        results.append({"group": "round_trip", "peer": PEER, "param": str(w), "samples_ns": round_trip(w)})
        print(f"python round_trip/{w}: {sorted(results[-1]['samples_ns'])[10] / 1000:.1f} us", flush=True)
    w = cores()
    for s in [1, 2]:
        param = f"{w} workers, {s} submitters"
        results.append({"group": "throughput", "peer": PEER, "param": param, "samples_ns": throughput(w, s)})
        print(f"python throughput/{param}: {1e3 / sorted(results[-1]['samples_ns'])[1]:.3f} M/s", flush=True)
    mem = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True, check=True)
    memory = float(mem.stdout.strip())
    print(f"python memory: {memory:.0f} bytes per pending task", flush=True)
    with open(out, "w") as f:
        json.dump({"python": sys.version.split()[0], "results": results,
                   "memory": {"peer": PEER, "bytes_per_task": memory, "tasks": 200_000}}, f)


if __name__ == "__main__":
    main()
