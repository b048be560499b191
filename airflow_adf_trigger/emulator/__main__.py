"""``python -m airflow_adf_trigger.emulator --port N --scenario FILE [--tls]``

Applied faults are logged at INFO level; ``-v`` logs every request too. ``--tls`` serves
HTTPS with a self-signed certificate made at start; ``--ca-file PATH`` copies it there for
clients to trust. A launcher of an emulator with extensions calls :func:`main` with its own
scenario and server types.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from airflow_adf_trigger.emulator.scenario import Scenario, is_seconds
from airflow_adf_trigger.emulator.server import EmulatorServer

DEFAULT_SCENARIO = Path(__file__).with_name("scenarios") / "demo.json"


def main(
    argv: list[str] | None = None,
    *,
    prog: str = "python -m airflow_adf_trigger.emulator",
    load: Callable[[Path], Scenario] = Scenario.load,
    serve: Callable[..., EmulatorServer] = EmulatorServer,
) -> int:
    """Serve a scenario until interrupted (Ctrl-C or SIGTERM); return the exit code.

    :param argv: the arguments (default: the command line); ``--help`` lists them.
    :param prog: the command's name in ``--help``.
    :param load: reads the ``--scenario`` file (raising ``ScenarioError`` or ``ValueError``
        naming what is wrong).
    :param serve: makes the server, called as ``EmulatorServer(scenario, host=..., port=...,
        tls=...)`` is; a launcher passes one that adds its extensions.
    :return: 0 after a clean stop, 2 when the scenario or the arguments are unusable.
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local Azure AD + Azure Data Factory emulator on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port (0 picks a free one)")
    parser.add_argument(
        "--scenario",
        type=Path,
        default=DEFAULT_SCENARIO,
        help="scenario file (JSON or YAML); default: the bundled demo scenario",
    )
    parser.add_argument(
        "--port-file", type=Path, help="write the port here once the server listens"
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="with --tls: copy the certificate (PEM) for clients to trust here",
    )
    parser.add_argument(
        "--monitoring-lag",
        type=float,
        metavar="SECONDS",
        help="queries show runs as they were this long ago (get-run shows them now); "
        "overrides the scenario's monitoring_lag_seconds",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s adf-emulator %(levelname)s %(message)s",
    )
    try:
        scenario = load(args.scenario)
    except (OSError, ValueError) as error:  # ScenarioError included
        print(f"cannot load scenario {args.scenario}: {error}", file=sys.stderr)
        return 2
    if args.ca_file and not args.tls:
        print("--ca-file needs --tls", file=sys.stderr)
        return 2
    if args.monitoring_lag is not None and not is_seconds(args.monitoring_lag):
        print("--monitoring-lag: must be a number of seconds, 0 or more", file=sys.stderr)
        return 2
    server = serve(scenario, host=args.host, port=args.port, tls=args.tls)
    if args.monitoring_lag is not None:
        server.update_settings(monitoring_lag_seconds=args.monitoring_lag)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"ADF emulator listening on {server.url} (factory {scenario.factory_name})", flush=True)
    if server.ca_file is not None:
        if args.ca_file:
            shutil.copyfile(server.ca_file, args.ca_file)
        print(f"TLS certificate to trust: {args.ca_file or server.ca_file}", flush=True)
    for extension in server.state.extensions:
        if extension.describe is not None:
            print(extension.describe(server.url), flush=True)
    if scenario.faults:
        logging.getLogger("airflow_adf_trigger.emulator").info(
            "%d fault(s) armed from the scenario; GET %s/_emulator/faults lists them",
            len(scenario.faults),
            server.url,
        )
    if args.port_file:
        args.port_file.write_text(str(server.port), encoding="utf-8")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
