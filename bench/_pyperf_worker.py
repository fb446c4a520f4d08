"""pyperf worker for the bench scripts: `python _pyperf_worker.py --kernel NAME [--name BENCH] [--one-loop] -o out.json`."""
import pyperf

from kernels import KERNELS


def add_cmdline_args(cmd, args):
    cmd.extend(("--kernel", args.kernel, "--name", args.name or args.kernel))
    if args.one_loop:
        cmd.append("--one-loop")


runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
runner.argparser.add_argument("--kernel", required=True)
runner.argparser.add_argument("--one-loop", action="store_true")
runner.argparser.add_argument("--name", default=None, help="benchmark name (compare_to matches by name)")
args = runner.parse_args()
if args.one_loop:
    runner.args.loops = 1
runner.bench_func(args.name or args.kernel, KERNELS[args.kernel])
