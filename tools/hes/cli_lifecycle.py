"""``sumame hes update`` and ``sumame hes rekey``: the head-end's lifecycle commands (the parser
and the shared session helpers are in ``cli.py``)."""
from __future__ import annotations

import sys

from ..cli import CliError
from .cli import MissingKeys, _head_end, _ready_or_not, _target, _until_ready


def update(args) -> int:
    """``sumame hes update``: one meter, or a campaign a share of the fleet at a time."""
    from sumame.firmware.lifecycle.image import ImageError, decode_header

    from .lifecycle.update import campaign

    try:
        image = args.image.read_bytes()
        header = decode_header(image)
    except OSError as exc:
        raise CliError(f"--image {args.image}: {exc.strerror}") from None
    except ImageError as exc:
        raise CliError(f"--image {args.image}: not a firmware image ({exc})") from None
    if not 0 < args.share <= 1:
        raise CliError(f"--share {args.share}: must be in (0, 1]")
    addresses = [args.meter] if args.meter else [a.strip() for a in args.meters.split(",") if a.strip()]
    scheduler, hes = _head_end(args)
    hes.start()
    meters = [hes.add_meter(_target(a)) for a in addresses]
    _until_ready(scheduler, hes, meters, args.timeout * 3)
    print(f"updating {len(meters)} meter(s) to {header.target} {header.version_text} ({header.build_id}), "
          f"{max(1, round(args.share * len(meters)))} at a time", flush=True)
    task = scheduler.spawn(campaign(hes, [m.id for m in meters], image, share=args.share,
                                    progress=lambda meter, text: print(f"{meter}: {text}", flush=True),
                                    settle_timeout_s=args.settle_timeout), name="hes-update", group="hes")
    out = _run_to_end(scheduler, hes, task)
    for failure in out["failed"]:
        print(f"failed {failure['meter']}: {failure['detail']}")
    print(f"{out['updated']} of {out['meters']} meter(s) updated, {len(out['failed'])} failed")
    return 0 if not out["failed"] else 1


def rekey(args) -> int:
    """``sumame hes rekey``: renew A-route keys [and the route-B pair], one meter or a fleet share."""
    from sumame.firmware.routes.aroute.key_renewal import kek_of

    from .lifecycle.rekey import rekey_fleet

    if not 0 < args.share <= 1:
        raise CliError(f"--share {args.share}: must be in (0, 1]")
    addresses = [args.meter] if args.meter else [a.strip() for a in args.meters.split(",") if a.strip()]
    scheduler, hes = _head_end(args)
    store = hes.config.keys.store
    if not store.paths:
        raise CliError("no key file to keep the new keys in: pass --keys FILE")

    def kek(serial: str) -> bytes:
        k = store.kek(serial)
        if k is None:
            if not args.emulation_kek:
                raise MissingKeys(f"no master key (kek) for meter {serial} in the key file: add it, "
                                  f"or pass --emulation-kek (emulation only)")
            return kek_of(serial, {})
        return k
    if args.emulation_kek:
        print("note: --emulation-kek: master keys missing from the key file are derived from the serial "
              "(emulation only)", file=sys.stderr)
    hes.start()
    meters = [hes.add_meter(_target(a)) for a in addresses]
    unreachable = _ready_or_not(scheduler, meters, args.timeout * 3)
    for m in unreachable:
        print(f"{m.id}: FAILED: {m.failure or 'no DLMS answer'}; its keys are unchanged", flush=True)
    meters = [m for m in meters if m.ready]
    print(f"renewing the A-route keys{' and route-B credentials' if args.route_b else ''} of {len(meters)} "
          f"meter(s), {max(1, round(args.share * len(meters)))} at a time; new keys go to "
          f"{', '.join(map(str, store.paths))}", flush=True)
    task = scheduler.spawn(rekey_fleet(hes, store, [m.id for m in meters], share=args.share, kek=kek,
                                       route_b=args.route_b,
                                       progress=lambda meter, text: print(f"{meter}: {text}", flush=True)),
                           name="hes-rekey", group="hes")
    out = _run_to_end(scheduler, hes, task)
    out["failed"] += [{"meter": m.id, "detail": m.failure or "no DLMS answer"} for m in unreachable]
    out["meters"] += len(unreachable)
    for r in out["results"]:
        if r.get("route_b_id"):                  # taken by the meter, even when its A-route keys stayed
            print(f"{r['meter']}: new route-B ID {r['route_b_id']} password {r['route_b_password']} "
                  f"(the meter shows the new QR code)")
    for failure in out["failed"]:
        print(f"failed {failure['meter']}: {failure['detail']}")
    print(f"{out['renewed']} of {out['meters']} meter(s) renewed, {len(out['failed'])} failed")
    return 0 if not out["failed"] else 1


def _run_to_end(scheduler, hes, task) -> dict:
    """Run the head-end until ``task`` ends, stop it, close its store; the task's result, or its
    failure as one CliError line."""
    while not task.done:
        scheduler.run(until=scheduler.clock.now() + 0.05)
    hes.stop()
    hes.store.close()
    if task.exception is not None:
        raise CliError(str(task.exception))
    return task.result
