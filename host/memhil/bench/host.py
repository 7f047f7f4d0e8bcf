"""``memhil bench host``: the host runtime's throughput over the live simulation link.

For FORWARD and UPDATE commands, with lockstep off and on, it reports commands per second and
where the wall time goes: the host's own work (encoding, decoding, the twin check) and the
link (socket, the simulated device's execution). The device is the Verilator build of the RTL
when it is available, else the twin behind the same socket (named in the output).
"""
from __future__ import annotations

import time

import torch

#: commands per measurement (small: the whole benchmark runs in well under a minute)
N_COMMANDS = 300


def _measure(xb, kind: str, n: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    R, C = xb.rows, xb.cols
    xs = torch.randint(-127, 128, (n, C), generator=g)
    ds = torch.randint(-127, 128, (n, R), generator=g)
    for k in vars(xb.stats):
        setattr(xb.stats, k, type(getattr(xb.stats, k))())
    t0 = time.perf_counter()
    for i in range(n):
        if kind == "forward":
            xb.forward(0, xs[i: i + 1])
        else:
            xb.update(0, xs[i: i + 1], ds[i: i + 1])
    wall = time.perf_counter() - t0
    s = xb.stats
    host = s.t_encode + s.t_decode + s.t_check
    return {
        "commands": n,
        "commands_per_s": round(n / wall, 1),
        "us_per_command": round(1e6 * wall / n, 1),
        "host_share": round(host / wall, 4),
        "encode_share": round(s.t_encode / wall, 4),
        "decode_share": round(s.t_decode / wall, 4),
        "twin_check_share": round(s.t_check / wall, 4),
        "link_share": round(s.t_link / wall, 4),
        "retries": s.retries,
    }


def run(json_out: bool = False, *, n: int = N_COMMANDS, model: str | None = None) -> dict:
    """Run the benchmark; print a table (or JSON with ``json_out``) and return the figures."""
    from memhil.config import DeviceConfig
    from memhil.runtime import sim_link
    from memhil.runtime.driver import Crossbar
    from memhil.runtime.lockstep import LockstepCrossbar
    from memhil.runtime.transport import SerialTransport

    torch.set_num_threads(1)
    if model is None:
        model = "rtl" if sim_link.rtl_available() else "twin"
    params = sim_link.SimParams(rows=8, cols=8, tiles=1, lanes=4, g_w=8)
    out = {"link": f"{model} simulation over a loopback socket (pyserial socket://)",
           "geometry": {"rows": params.rows, "cols": params.cols, "lanes": params.lanes},
           "results": {}}
    srv = sim_link.start_server(model, params, start_timeout=600)
    try:
        for lockstep in (False, True):
            tr = SerialTransport(srv.url)
            xb = (LockstepCrossbar if lockstep else Crossbar)(tr, timeout=2.0)
            xb.configure(DeviceConfig(update_mode="coincidence", seed=1))
            xb.write_cells(0, 0, [124] * (params.rows * params.cols),
                           [124] * (params.rows * params.cols))
            for kind in ("forward", "update"):
                key = f"{kind}_{'lockstep' if lockstep else 'plain'}"
                out["results"][key] = _measure(xb, kind, n, seed=2)
            tr.close()
    finally:
        srv.close()
    if not json_out:   # with json_out the caller (memhil bench) prints the JSON
        print(f"memhil bench host: {out['link']}, {params.rows}x{params.cols}")
        print(f"{'case':22s} {'cmd/s':>8s} {'us/cmd':>8s} {'host':>6s} {'enc':>6s} {'dec':>6s} "
              f"{'twin':>6s} {'link':>6s}")
        for k, r in out["results"].items():
            print(f"{k:22s} {r['commands_per_s']:8.0f} {r['us_per_command']:8.0f} "
                  f"{r['host_share']:6.1%} {r['encode_share']:6.1%} {r['decode_share']:6.1%} "
                  f"{r['twin_check_share']:6.1%} {r['link_share']:6.1%}")
    return out


if __name__ == "__main__":  # pragma: no cover  (`memhil bench host [--json]` is the same)
    import json
    import sys

    _res = run(json_out="--json" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(_res, sort_keys=True))
