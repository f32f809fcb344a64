"""`sevtriage serve`: the HTTP API (and the review desk when the store is enabled) on uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from sevtriage.errors import ConfigError
from sevtriage.settings import Settings


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command(name="serve")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1; others need an API token).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port (default 8000).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), default=None, help="Settings YAML file.")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), default=None, help="Rules file.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None, help="Model file.")
@click.option("--sla", "sla_path", type=click.Path(path_type=Path), default=None, help="SLA policy file.")
@click.option("--policy", "policy_alias", type=click.Path(path_type=Path), default=None, hidden=True)
@click.option("--engine", type=click.Choice(["durable", "python"]), default=None, help="Rules engine.")
@click.option("--store", "store_url", default=None, help="Decision store URL (SEVTRIAGE_STORE_URL); '' disables it.")
@click.option("--max-batch", type=click.IntRange(1, 100_000), default=None, help="Most requests in one batch call.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes answering on the one port (README: multi-process).",
)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.option("--log-request-text", is_flag=True, default=None, help="Also log request texts (off by default).")
def serve(
    host: str | None,
    port: int | None,
    config_file: Path | None,
    rules_path: Path | None,
    model_path: Path | None,
    sla_path: Path | None,
    policy_alias: Path | None,
    engine: str | None,
    store_url: str | None,
    max_batch: int | None,
    workers: int,
    log_level: str,
    log_request_text: bool | None,
) -> int:
    """Serve the HTTP API: POST /v1/classify, /v1/classify/batch, /v1/sla/due; GET /healthz, /metrics, /docs.

    \b
    The API token comes from SEVTRIAGE_API_TOKEN (or the settings file), never from the command line.
    Without a token the service only listens on 127.0.0.1. SIGHUP reloads the rules and the model (with
    --workers, SIGHUP to the parent reloads them in every worker).
    """
    import uvicorn

    from sevtriage.api import create_app

    overrides: dict[str, object] = {
        "host": host,
        "port": port,
        "rules_path": rules_path,
        "model_path": model_path,
        "sla_path": sla_path or policy_alias,  # --policy: the older name `sla` commands used
        "rules_engine": engine,
        "max_batch": max_batch,
        "log_request_text": log_request_text,
    }
    if store_url is not None:
        overrides["store_url"] = store_url  # "" is kept (not None) and means: no store, no review desk
    settings = Settings.load(config_file, **overrides)
    if settings.token is None:
        if not is_loopback(settings.host):
            raise ConfigError(
                f"refusing to listen on {settings.host} without an API token: anyone on the network could use the "
                "API. Set SEVTRIAGE_API_TOKEN (or api_token in the settings file), or listen on 127.0.0.1"
            )
        click.echo(
            f"No API token configured (SEVTRIAGE_API_TOKEN): listening on {settings.host} only, "
            "reachable from this machine alone.",
            err=True,
        )
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers > 1:
        from sevtriage.api.workers import serve_workers

        click.echo(f"sevtriage API on http://{settings.host}:{settings.port} with {workers} workers", err=True)
        return serve_workers(settings, workers, log_level=log_level, access_log=log_level == "debug")
    app = create_app(settings)
    click.echo(f"sevtriage API on http://{settings.host}:{settings.port} (docs at /docs)", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, access_log=log_level == "debug")
    return 0


COMMANDS: list[click.Command] = [serve]
