"""pyperf worker for bench/timing_overhead.py: `python _pyperf_worker.py --kernel NAME [--one-loop] -o out.json`."""
import pyperf

from kernels import KERNELS


def add_cmdline_args(cmd, args):
    cmd.extend(("--kernel", args.kernel))
    if args.one_loop:
        cmd.append("--one-loop")


runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
runner.argparser.add_argument("--kernel", required=True)
runner.argparser.add_argument("--one-loop", action="store_true")
args = runner.parse_args()
if args.one_loop:
    runner.args.loops = 1
runner.bench_func(args.kernel, KERNELS[args.kernel])
