"""The ``yolo-freq`` command (filled in below)."""


def main(argv=None):
    raise SystemExit("yolo-freq: not yet")
