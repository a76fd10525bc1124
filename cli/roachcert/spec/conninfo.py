"""PostgreSQL connection strings read the way libpq reads them, to find a credential in a `pg` backend's
`conn_str` whatever its spelling.

Both forms libpq takes: `key=value` (values bare or single-quoted, backslash escapes) and URIs
(`postgres://user:password@host/db?key=value`, percent-decoded userinfo, keys and values). Keys are compared
stripped and lowercased: libpq itself is case-sensitive, but Terraform's pg backend uses Go's lib/pq, and
either way a misspelt credential would still be written into backend.tf.

Credentials: `password`, `sslpassword` (the client key's passphrase), `oauth_client_secret` (libpq 18), a
non-empty password in a URI's userinfo, `sslkey` when `sslinline` makes it the key itself, and any value that
holds a private key. `passfile`, `sslkey`, `sslcert` and `sslrootcert` name files: the secret stays in the
file, so they are allowed. A `dbname` that is itself a connection string is read too (libpq's expand_dbname).
"""

from __future__ import annotations

from urllib.parse import unquote

CREDENTIAL_KEYS = frozenset({"password", "sslpassword", "oauth_client_secret"})
URI_PREFIXES = ("postgresql://", "postgres://")
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})


class ConnInfoError(ValueError):
    """A conn_str libpq would not parse either."""


def _norm(key: str) -> str:
    return key.strip().lower()


def is_uri(text: str) -> bool:
    return text.lstrip().lower().startswith(URI_PREFIXES)


def parse_keyword_value(text: str) -> list[tuple[str, str]]:
    """`host=db user=tf password='a b'` → pairs, with libpq's quoting and escapes."""
    pairs: list[tuple[str, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return pairs
        start = i
        while i < n and text[i] != "=" and not text[i].isspace():
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if i >= n or text[i] != "=":
            raise ConnInfoError(f"missing '=' after {key!r}")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise ConnInfoError("unterminated quoted string")
                if text[i] == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                elif text[i] == "'":
                    i += 1
                    break
                else:
                    value.append(text[i])
                    i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    value.append(text[i + 1])
                    i += 2
                else:
                    value.append(text[i])
                    i += 1
        pairs.append((key, "".join(value)))


def parse_uri(text: str) -> list[tuple[str, str]]:
    """`postgres://user:pw@host:5432/db?sslmode=require` → pairs (user, password, host, dbname, params)."""
    text = text.strip()
    rest = text[text.index("://") + 3 :]
    cut = min((index for index in (rest.find("/"), rest.find("?")) if index >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    pairs: list[tuple[str, str]] = []
    # libpq takes the userinfo up to the first `@`, Go's net/url up to the last: whichever holds a `:`.
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        pairs.append(("user", unquote(user)))
        if colon:
            pairs.append(("password", unquote(password)))
        authority = host
    pairs.append(("host", unquote(authority)))
    path, _, query = tail.partition("?")
    if path.strip("/"):
        pairs.append(("dbname", unquote(path.lstrip("/"))))
    for part in query.split("&"):
        if not part:
            continue
        key, equals, value = part.partition("=")
        if not equals:
            raise ConnInfoError(f"missing '=' in URI parameter {unquote(key)!r}")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def parse(text: str) -> list[tuple[str, str]]:
    return parse_uri(text) if is_uri(text) else parse_keyword_value(text)


def credential_in(text: str, depth: int = 0) -> str | None:
    """The (normalised) key that carries a credential, or None. Raises ConnInfoError when unparseable."""
    pairs = [(_norm(key), value) for key, value in parse(text)]
    options = dict(pairs)
    for key, value in pairs:
        if key in CREDENTIAL_KEYS and value:
            return key
        if "PRIVATE KEY" in value.upper():
            return key
        if key == "dbname" and depth < 2 and ("=" in value or is_uri(value)):
            inner = credential_in(value, depth + 1)
            if inner is not None:
                return inner
    if options.get("sslkey") and _norm(options.get("sslinline", "")) in _TRUE:
        return "sslkey"
    return None
