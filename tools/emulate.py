"""sumame emulate (being built)."""


def add_parser(sub) -> None:
    p = sub.add_parser("emulate", help="(being built)")
    p.set_defaults(func=lambda args: 2)
