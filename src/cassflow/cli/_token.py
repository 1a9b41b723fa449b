"""``cassflow token keygen`` and ``cassflow token issue``: signing keys and development tokens
for the proxy (argument parsing and display only; the work is in cassflow.proxy._keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cassflow.cli._app import app

token = typer.Typer(
    help="Identity tokens for the CQL proxy: a local signing key and development tokens.",
    no_args_is_help=True,
)
app.add_typer(token, name="token")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@token.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Where to write the private key (PEM).")],
    key_type: Annotated[
        str, typer.Option("--type", help="Key type: ec (P-256, ES256), rsa (3072, RS256), ed25519.")
    ] = "ec",
    jwks: Annotated[
        Path | None,
        typer.Option(
            "--jwks",
            help="JWKS file to add the public key to (created if missing; other keys kept).",
        ),
    ] = None,
    kid: Annotated[
        str | None, typer.Option("--kid", help="Key id; default: the key's RFC 7638 thumbprint.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing private key file.")
    ] = False,
) -> None:
    """Write a new private signing key (mode 0600) and publish its public half in a JWKS.

    Point the proxy's tokens.jwks_file at the JWKS; sign tokens with `cassflow token issue
    --key`. Prints the key id and algorithm.

    Example: cassflow token keygen --out dev-key.pem --jwks jwks.json
    """
    from cassflow.proxy._tokens import TokenError

    try:
        from cassflow.proxy._keys import (
            generate_key,
            public_jwk,
            signing_algorithm,
            write_jwks,
            write_private_key,
        )

        if key_type not in ("ec", "rsa", "ed25519"):
            raise typer.BadParameter("expected ec, rsa or ed25519", param_hint="--type")
        if out.exists() and not force:
            raise _fail(f"private key {out} exists already; pass --force to replace it")
        key = generate_key(key_type)  # type: ignore[arg-type]  # checked just above
        jwk = public_jwk(key, kid)
        write_private_key(key, out, overwrite=force)
        count = write_jwks(jwks, jwk) if jwks is not None else 0
    except TokenError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"private key: {out} ({signing_algorithm(key)}, kid {jwk['kid']})")
    if jwks is not None:
        typer.echo(f"public key set: {jwks} ({count} key{'s' if count != 1 else ''})")


@token.command()
def issue(
    subject: Annotated[str, typer.Option("--subject", help="The identity (sub claim).")],
    key: Annotated[
        Path | None, typer.Option("--key", help="Private key PEM to sign with (RS256/ES256/EdDSA).")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            "--secret",
            help="HS256 instead: a ${secret:...} reference to the HMAC secret (32+ bytes).",
        ),
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="A group (repeat for more).")
    ] = None,
    issuer: Annotated[str, typer.Option("--issuer", help="The iss claim.")] = "cassflow-dev",
    audience: Annotated[str, typer.Option("--audience", help="The aud claim.")] = "cassflow-proxy",
    ttl: Annotated[str, typer.Option("--ttl", help="Lifetime: 90s, 15m, 1h, 2d.")] = "1h",
    kid: Annotated[
        str | None, typer.Option("--kid", help="Key id header; default: the key's thumbprint.")
    ] = None,
) -> None:
    """Print a signed development token (a JWT) to use as the password through the proxy.

    Exactly one of --key (a key from `cassflow token keygen`) or --secret.

    Example: cassflow token issue --key dev-key.pem --subject alice --group analysts
    """
    from cassflow.access import SecretError, has_secret_references, resolve_secrets
    from cassflow.proxy._tokens import TokenError

    if (key is None) == (secret is None):
        raise typer.BadParameter("give exactly one of --key and --secret", param_hint="--key")
    if secret is not None and not has_secret_references(secret):
        raise typer.BadParameter(
            "must be a ${secret:...} reference (a secret on the command line shows in the "
            "process list and the shell history)",
            param_hint="--secret",
        )
    from cassflow.proxy._keys import issue_token, load_private_key, parse_ttl

    try:
        seconds = parse_ttl(ttl)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ttl") from None
    try:
        signer = load_private_key(key) if key is not None else resolve_secrets(secret)
        assert signer is not None  # secret is not None on this branch
        text = issue_token(
            signer,
            subject=subject,
            issuer=issuer,
            audience=audience,
            ttl=seconds,
            groups=group or (),
            kid=kid,
        )
    except (TokenError, SecretError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(text)
