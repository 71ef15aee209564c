"""The M/M/c queue of benches/compare.rs (c = 10, lambda = 8, mu = 1) in SimPy,
the peer the README's Performance table compares loopcap with.

Not part of loopcap: a benchmark reference, run by scripts/bench.sh when SimPy
is installed (pip install simpy). Prints customers per second, the median of
several runs, and the mean wait as a check that the queue is the same one.

    python3 benches/simpy_mmc.py [customers] [runs]
"""

import random
import statistics
import sys
import time

import simpy

LAMBDA, MU, SERVERS = 8.0, 1.0, 10


def mmc(customers, seed):
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    waits = []

    def customer():
        arrived = env.now
        with servers.request() as request:
            yield request
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(MU))

    def source():
        for _ in range(customers):
            yield env.timeout(rng.expovariate(LAMBDA))
            env.process(customer())

    env.process(source())
    env.run()
    return len(waits), statistics.fmean(waits)


def main():
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    times = []
    for run in range(runs):
        start = time.perf_counter()
        served, mean_wait = mmc(customers, seed=run + 1)
        times.append(time.perf_counter() - start)
    rate = customers / statistics.median(times)
    print(f"SimPy {simpy.__version__}: {rate / 1e3:.1f} thousand customers/s "
          f"(median of {runs} runs of {customers} customers; mean wait {mean_wait:.3f} s)")


if __name__ == "__main__":
    main()
