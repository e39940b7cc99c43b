"""The baseline job for bench/delivery_throughput.py: what rq itself costs, with no work in it."""


def noop(n: int) -> int:
    return n
