"""The fixture DNS world of the dns tests: one zone per scenario under ``.test``, served by knot.

Each scenario names what it proves (``spf-ten.test``: exactly 10 lookups through nested
includes). ``build_zones(https_host_ip)`` returns {origin: zone text}; DKIM keys are generated
once per test session with ``cryptography``.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.support.dns_server import txt, zone


def _spki(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(raw).decode()


@lru_cache(maxsize=1)
def keys() -> dict[str, str]:
    rsa2048 = rsa.generate_private_key(65537, 2048).public_key()
    rsa1024 = rsa.generate_private_key(65537, 1024).public_key()
    pkcs1 = rsa2048.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    short = rsa.RSAPublicNumbers(65537, (1 << 767) | 12345).public_key()
    return {
        "rsa2048": _spki(rsa2048),
        "rsa1024": _spki(rsa1024),
        "rsa768": _spki(short),
        "pkcs1": base64.b64encode(pkcs1).decode(),
        "ed25519": _spki(ed25519.Ed25519PrivateKey.generate().public_key()),
    }


def T(name: str, value: str) -> str:
    return f"{name} TXT {txt(value)}"


DMARC_OK = "v=DMARC1; p=reject; rua=mailto:dmarc@{d}"


def _chain(origin: str, depth: int) -> list[str]:
    """SPF include chain: the apex includes n1, n1 includes n2 ... each include is 1 lookup."""
    records = [T("@", f"v=spf1 include:n1.{origin} -all")]
    for level in range(1, depth):
        records.append(T(f"n{level}", f"v=spf1 include:n{level + 1}.{origin} -all"))
    records.append(T(f"n{depth}", "v=spf1 ip4:192.0.2.0/24 -all"))
    return records


def spf_zones() -> dict[str, list[str]]:
    long_record = "v=spf1 " + " ".join(f"ip4:198.51.100.{i}" for i in range(1, 40)) + " -all"
    many_mx = [f"@ MX {i} mx{i}" for i in range(11)] + [
        f"mx{i} A 192.0.2.{i + 1}" for i in range(11)
    ]
    return {
        "spf-ten.test": _chain("spf-ten.test", 10),
        "spf-eleven.test": _chain("spf-eleven.test", 11),
        "spf-void2.test": [T("@", "v=spf1 a:nx1.spf-void2.test a:nx2.spf-void2.test -all")],
        "spf-void3.test": [
            T("@", "v=spf1 a:nx1.spf-void3.test a:nx2.spf-void3.test a:nx3.spf-void3.test -all")
        ],
        "spf-loop.test": [
            T("@", "v=spf1 include:l2.spf-loop.test -all"),
            T("l2", "v=spf1 include:spf-loop.test -all"),
        ],
        "spf-split.test": [T("@", long_record)],
        "spf-upper.test": [
            T("@", "V=SPF1 IP4:192.0.2.1 INCLUDE:_spf.spf-upper.test -ALL"),
            T("_spf", "v=spf1 ip4:192.0.2.2 -all"),
        ],
        "spf-two.test": [T("@", "v=spf1 -all"), T("@", "v=spf1 ip4:192.0.2.1 -all")],
        "spf-syntax.test": [T("@", "v=spf1 inculde:example.test ip4:192.0.2.300 -all")],
        "spf-inc-missing.test": [
            T("@", "v=spf1 include:nothing.spf-inc-missing.test -all"),
            "nothing A 192.0.2.1",
        ],
        "spf-redirect.test": [
            T("@", "v=spf1 redirect=_spf.spf-redirect.test"),
            T("_spf", "v=spf1 ip4:192.0.2.0/24 ~all"),
        ],
        "spf-redir-missing.test": [T("@", "v=spf1 redirect=none.spf-redir-missing.test")],
        "spf-redir-all.test": [T("@", "v=spf1 ip4:192.0.2.1 -all redirect=x.spf-redir-all.test")],
        "spf-ptr.test": [T("@", "v=spf1 ptr -all")],
        "spf-redir-pass.test": [
            T("@", "v=spf1 redirect=_spf.spf-redir-pass.test"),
            T("_spf", "v=spf1 +all"),
        ],
        "spf-plusall.test": [T("@", "v=spf1 ip4:192.0.2.1 +all")],
        "spf-neutral.test": [T("@", "v=spf1 ip4:192.0.2.1 ?all")],
        "spf-noall.test": [T("@", "v=spf1 ip4:192.0.2.1")],
        "spf-after-all.test": [T("@", "v=spf1 ip4:192.0.2.1 -all include:x.spf-after-all.test")],
        "spf-mx11.test": [T("@", "v=spf1 mx -all"), *many_mx],
        "spf-long.test": [
            T("@", "v=spf1 " + " ".join(f"ip4:198.51.100.{i}/32" for i in range(1, 40)) + " -all")
        ],
        "spf-type99.test": [T("@", "v=spf1 -all"), '@ SPF "v=spf1 -all"'],
        "spf-senderid.test": [T("@", "v=spf1 -all"), T("@", "spf2.0/pra -all")],
        "spf-missing.test": [T("@", "google-site-verification=abc")],
        "spf-temperror.test": [
            T("@", "v=spf1 include:_spf.unserved.example -all"),
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@spf-temperror.test"),
        ],
        "spf-networks.test": [
            T("@", "v=spf1 a mx/28 ip6:2001:db8::/32 -all"),
            "@ A 192.0.2.7",
            "@ MX 10 mx",
            "mx A 198.51.100.9",
            "mx AAAA 2001:db8::9",
        ],
    }


def dmarc_zones() -> dict[str, list[str]]:
    return {
        # issue 13: an intermediate record without psd is neither the policy nor the org domain
        "dm-walk.test": [
            T("_dmarc.y", "v=DMARC1; p=none; rua=mailto:d@dm-walk.test"),
            T("_dmarc", "v=DMARC1; p=none; sp=reject; rua=mailto:d@dm-walk.test"),
            "x.y A 192.0.2.1",
        ],
        "dm-org.test": [
            T("_dmarc", "v=DMARC1; p=reject; sp=quarantine; np=reject; rua=mailto:d@dm-org.test"),
            "sub A 192.0.2.1",
            T("deep.sub", "x"),
        ],
        "dm-psd.test": [
            T("_dmarc", "v=DMARC1; p=none; rua=mailto:d@dm-psd.test"),
            T("_dmarc.unit", "v=DMARC1; p=reject; psd=n; rua=mailto:d@dm-psd.test"),
            "host.unit A 192.0.2.1",
        ],
        "dm-two.test": [
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@dm-two.test"),
            T("_dmarc.sub", "v=DMARC1; p=none"),
            T("_dmarc.sub", "v=DMARC1; p=reject"),
            "sub A 192.0.2.1",
        ],
        "dm-upper.test": [T("_dmarc", "v=DMARC1; P=Reject; RUA=mailto:d@dm-upper.test")],
        "dm-vlate.test": [T("_dmarc", "p=none; v=DMARC1")],
        "dm-vcase.test": [T("_dmarc", "v=dmarc1; p=none")],
        "dm-nosemi.test": [T("_dmarc", "v=DMARC1 p=none")],
        "dm-badp-rua.test": [T("_dmarc", "v=DMARC1; p=rejet; rua=mailto:d@dm-badp-rua.test")],
        "dm-badp.test": [T("_dmarc", "v=DMARC1; p=rejet")],
        "dm-pct.test": [T("_dmarc", "v=DMARC1; p=quarantine; pct=25; rua=mailto:d@dm-pct.test")],
        "dm-testing.test": [T("_dmarc", "v=DMARC1; p=reject; t=y; rua=mailto:d@dm-testing.test")],
        "dm-ext.test": [
            T(
                "_dmarc",
                "v=DMARC1; p=none; rua=mailto:a@auth.test,mailto:b@wild.test,mailto:c@noauth.test",
            )
        ],
        "auth.test": [T("dm-ext.test._report._dmarc", "v=DMARC1")],
        "wild.test": [T("*._report._dmarc", "v=DMARC1")],
        "noauth.test": ["@ A 192.0.2.1"],
        "dm-baduri.test": [
            T("_dmarc", "v=DMARC1; p=none; rua=d@dm-baduri.test,mailto:e@dm-baduri.test!10m")
        ],
        "dm-norua.test": [T("_dmarc", "v=DMARC1; p=reject")],
        "dm-nop.test": [T("_dmarc", "v=DMARC1; rua=mailto:d@dm-nop.test")],
        "dm-apex.test": [T("@", "v=DMARC1; p=reject")],
        "dm-badtag.test": [T("_dmarc", "v=DMARC1; p=reject; adkim=x; rua=mailto:d@dm-badtag.test")],
        "dm-noise.test": [
            T("_dmarc", "some-verification=123"),
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@dm-noise.test"),
        ],
        "dm-none.test": [T("@", "v=spf1 -all")],
        "dm-rfcdiff.test": [
            T("_dmarc", "v=DMARC1; p=reject; sp=none; rua=mailto:d@dm-rfcdiff.test"),
            T("_dmarc.unit", "v=DMARC1; p=quarantine; psd=n"),
            "host.unit A 192.0.2.1",
        ],
    }


def dkim_zones() -> dict[str, list[str]]:
    k = keys()
    return {
        "dkim.test": [
            T("good._domainkey", f"v=DKIM1; k=rsa; p={k['rsa2048']}"),
            T("weak._domainkey", f"v=DKIM1; k=rsa; p={k['rsa1024']}"),
            T("short._domainkey", f"v=DKIM1; p={k['rsa768']}"),
            T("pkcs1._domainkey", f"v=DKIM1; p={k['pkcs1']}"),
            T("ed._domainkey", f"v=DKIM1; k=ed25519; p={k['ed25519']}"),
            T("revoked._domainkey", "v=DKIM1; p="),
            T("testing._domainkey", f"v=DKIM1; t=y; p={k['rsa2048']}"),
            T("sha1._domainkey", f"v=DKIM1; h=sha1; p={k['rsa2048']}"),
            T("garbage._domainkey", "v=DKIM1; p=not*base64"),
            T("dup._domainkey", f"v=DKIM1; p={k['rsa2048']}; p={k['rsa2048']}"),
            T("ktype._domainkey", f"v=DKIM1; k=dsa; p={k['rsa2048']}"),
            T("service._domainkey", f"v=DKIM1; s=tlsrpt; p={k['rsa2048']}"),
            T("two._domainkey", f"v=DKIM1; p={k['rsa2048']}"),
            T("two._domainkey", f"v=DKIM1; p={k['rsa1024']}"),
            "alias._domainkey CNAME key.provider.test.",
        ],
        "provider.test": [T("key", f"v=DKIM1; p={k['rsa2048']}")],
        "dkim-probe.test": [T("selector1._domainkey", f"v=DKIM1; p={k['rsa2048']}")],
        "dkim-nothing.test": ["@ A 192.0.2.1"],
    }


def mx_zones() -> dict[str, list[str]]:
    return {
        "mx-null.test": ["@ MX 0 ."],
        "mx-null-other.test": ["@ MX 0 .", "@ MX 10 mx", "mx A 192.0.2.1"],
        "mx-null-bad.test": ["@ MX 10 ."],
        "mx-cname.test": ["@ MX 10 alias", "alias CNAME real", "real A 192.0.2.1"],
        "mx-noaddr.test": ["@ MX 10 ghost"],
        "mx-missing.test": ["@ A 192.0.2.1"],
        "mx-ip.test": ["@ MX 10 192.0.2.1."],
        "parked-ok.test": ["@ MX 0 .", T("@", "v=spf1 -all"), T("_dmarc", "v=DMARC1; p=reject")],
    }


def sts_zones(ip: str) -> dict[str, list[str]]:
    common = ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 192.0.2.1", "mx2 A 192.0.2.2", f"mta-sts A {ip}"]
    names = (
        "sts-enforce",
        "sts-testing",
        "sts-short",
        "sts-uncovered",
        "sts-redirect",
        "sts-notfound",
        "sts-badpolicy",
        "sts-badtype",
        "sts-wildcard",
    )
    zones = {f"{n}.test": [*common, T("_mta-sts", "v=STSv1; id=20240101")] for n in names}
    zones["sts-enforce.test"].append(T("_smtp._tls", "v=TLSRPTv1; rua=mailto:tls@sts-enforce.test"))
    zones["sts-badrecord.test"] = [*common, T("_mta-sts", "v=STSv1; id=has-dashes!")]
    zones["sts-two.test"] = [
        *common,
        T("_mta-sts", "v=STSv1; id=1"),
        T("_mta-sts", "v=STSv1; id=2"),
    ]
    zones["sts-nohost.test"] = ["@ MX 10 mx1", "mx1 A 192.0.2.1", T("_mta-sts", "v=STSv1; id=1")]
    zones["sts-private.test"] = [*common[:4], "mta-sts A 10.1.2.3", T("_mta-sts", "v=STSv1; id=1")]
    return zones


def tlsrpt_zones() -> dict[str, list[str]]:
    return {
        "tls-ok.test": [
            T("_smtp._tls", "v=TLSRPTv1; rua=mailto:a@tls-ok.test, https://r.tls-ok.test/")
        ],
        "tls-bad.test": [T("_smtp._tls", "v=TLSRPTv1; ruaa")],
        "tls-http.test": [T("_smtp._tls", "v=TLSRPTv1; rua=http://r.tls-http.test/")],
        "tls-two.test": [
            T("_smtp._tls", "v=TLSRPTv1; rua=mailto:a@tls-two.test"),
            T("_smtp._tls", "v=TLSRPTv1; rua=mailto:b@tls-two.test"),
        ],
    }


def bimi_zones(ip: str) -> dict[str, list[str]]:
    logo = "v=BIMI1; l=https://logo.{d}/logo.svg"
    out = {
        "bimi-ok.test": [
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@bimi-ok.test"),
            T("default._bimi", logo.format(d="bimi-ok.test")),
            f"logo A {ip}",
        ],
        "bimi-none.test": [
            T("_dmarc", "v=DMARC1; p=none; rua=mailto:d@bimi-none.test"),
            T("default._bimi", logo.format(d="bimi-none.test")),
            f"logo A {ip}",
        ],
        "bimi-sp.test": [
            T("_dmarc", "v=DMARC1; p=reject; sp=none; rua=mailto:d@bimi-sp.test"),
            T("default._bimi", logo.format(d="bimi-sp.test")),
            f"logo A {ip}",
        ],
        "bimi-pct.test": [
            T("_dmarc", "v=DMARC1; p=quarantine; pct=50; rua=mailto:d@bimi-pct.test"),
            T("default._bimi", logo.format(d="bimi-pct.test")),
            f"logo A {ip}",
        ],
        "bimi-http.test": [
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@bimi-http.test"),
            T("default._bimi", "v=BIMI1; l=http://logo.bimi-http.test/l.svg"),
        ],
        "bimi-bad.test": [T("_dmarc", "v=DMARC1; p=reject"), T("default._bimi", "v=BIMI1; a=")],
        "bimi-two.test": [
            T("_dmarc", "v=DMARC1; p=reject"),
            T("default._bimi", "v=BIMI1; l="),
            T("default._bimi", "v=BIMI1; l=; a="),
        ],
        "bimi-declined.test": [
            T("_dmarc", "v=DMARC1; p=reject"),
            T("default._bimi", "v=BIMI1; l=; a="),
        ],
        "bimi-nologo.test": [
            T("_dmarc", "v=DMARC1; p=reject; rua=mailto:d@bimi-nologo.test"),
            T("default._bimi", "v=BIMI1; l=https://logo.bimi-nologo.test/x.svg"),
            f"logo A {ip}",
        ],
    }
    return out


def good_zone() -> list[str]:
    return [
        "@ MX 10 mx",
        "mx A 192.0.2.1",
        T("@", "v=spf1 mx -all"),
        T("_dmarc", DMARC_OK.format(d="good.test")),
        T("mail._domainkey", f"v=DKIM1; p={keys()['rsa2048']}"),
    ]


def build_zones(https_ip: str) -> dict[str, str]:
    scenarios: dict[str, list[str]] = {}
    for part in (
        spf_zones(),
        dmarc_zones(),
        dkim_zones(),
        mx_zones(),
        sts_zones(https_ip),
        tlsrpt_zones(),
        bimi_zones(https_ip),
    ):
        scenarios.update(part)
    scenarios["good.test"] = good_zone()
    zones = {origin: zone(origin, records) for origin, records in scenarios.items()}
    zones["test"] = zone("test", [])
    return zones


def https_names() -> list[str]:
    """Host names the test HTTPS server needs a certificate for."""
    names = [f"mta-sts.{d}" for d in sts_zones("127.0.0.1")]
    names += [f"logo.{d}" for d in bimi_zones("127.0.0.1")]
    return names
