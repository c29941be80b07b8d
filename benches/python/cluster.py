"""Dask's LocalCluster of two worker processes (one thread each): round trip,
throughput and map speed-up, measured the way benches/cluster.rs measures
futurepool's cluster.

Run by benches/run.sh with a Python that has dask and distributed (run.sh
installs them into a venv under target/): python cluster.py OUT.json
With --round-trip-only (after OUT.json) it measures only the round trip (about
half a minute in all, the start of the LocalCluster included), to set beside
`cargo bench --bench cluster -- cluster_round_trip`.
"""
import json
import sys
import time

import dask
import distributed
from dask.distributed import Client, LocalCluster

PEER = "Dask LocalCluster"
WORKERS = 2
TASKS = 10_000
MAP_TASKS = 64
SPIN_S = 0.020
MASK = (1 << 64) - 1


def trivial(x):
    return x + 1


def spin(iters):
    """The loop of benches/cluster.rs's `spin`: a 64-bit LCG and a xorshift."""
    x = iters
    for _ in range(iters):
        x = (x * 6364136223846793005 + 1442695040888963407) & MASK
        x ^= x >> 29
    return x


def calibrate():
    probe = 20_000
    best = min(timed(lambda: spin(probe)) for _ in range(5))
    return int(probe * SPIN_S / best)


def timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def round_trip(client, samples=10, per_sample=100):
    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        for i in range(per_sample):
            # pure=False: a new key each time (Dask would reuse the result
            # of an identical pure call).
            client.submit(trivial, i, pure=False).result()
        times.append((time.perf_counter_ns() - t) / per_sample)
    return times


def throughput(client, samples=3):
    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        futures = [client.submit(trivial, i, pure=False) for i in range(TASKS)]
        client.gather(futures)
        times.append((time.perf_counter_ns() - t) / TASKS)
    return times


def map_cluster(client, iters, samples=3):
    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        client.gather(client.map(spin, [iters] * MAP_TASKS, pure=False))
        times.append((time.perf_counter_ns() - t) / MAP_TASKS)
    return times


def map_sequential(iters, samples=3):
    times = []
    for _ in range(samples):
        t = time.perf_counter_ns()
        for _ in range(MAP_TASKS):
            spin(iters)
        times.append((time.perf_counter_ns() - t) / MAP_TASKS)
    return times


def main():
    out = sys.argv[1]
    round_trip_only = "--round-trip-only" in sys.argv[2:]
    iters = calibrate()
    print(f"python spin: {iters} steps for about {SPIN_S * 1000:.0f} ms", flush=True)
    w = str(WORKERS)
    results = []

    def add(group, peer, samples, unit):
        results.append({"group": group, "peer": peer, "param": w, "samples_ns": samples})
        med = sorted(samples)[len(samples) // 2]
        print(f"{peer} {group}/{w}: {med / unit[0]:.1f} {unit[1]}", flush=True)

    with LocalCluster(
        n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
        # Warm up: every worker has run something.
        client.gather(client.map(trivial, range(WORKERS * 8), pure=False))
        add("cluster_round_trip", PEER, round_trip(client), (1e6, "ms"))
        if not round_trip_only:
            add("cluster_throughput", PEER, throughput(client), (1e3, "us per task"))
            add("cluster_map", PEER, map_cluster(client, iters), (1e6, "ms per task"))
    if not round_trip_only:
        add("cluster_map", "Python sequential", map_sequential(iters), (1e6, "ms per task"))
    with open(out, "w") as f:
        json.dump(
            {
                "python": sys.version.split()[0],
                "dask": dask.__version__,
                "distributed": distributed.__version__,
                "results": results,
            },
            f,
        )


if __name__ == "__main__":
    main()
