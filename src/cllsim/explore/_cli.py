"""``cllsim explore``: the explorer web app on 127.0.0.1."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Attach the ``explore`` command to the cllsim app."""

    @app.command()
    def explore(
        port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8050,
    ) -> None:
        """Explore a patient in the browser: regimens side by side, parameters as sliders, a virtual cohort band.

        Serves on http://127.0.0.1:PORT only (the app has no authentication); stop it with Ctrl-C.
        """
        from ..cli import UsageError, console, run_guarded

        def go() -> None:
            import importlib.util

            if not 1 <= port <= 65535:
                raise UsageError(f"--port must be between 1 and 65535, got {port}")
            if importlib.util.find_spec("dash") is None:
                raise UsageError('the explorer needs Dash: pip install "cllsim[explore]"')
            from ._app import serve

            console.print(f"cllsim explorer: compiling the cohort engine, then serving on http://127.0.0.1:{port}",
                          highlight=False)
            serve(port)

        run_guarded(go)
