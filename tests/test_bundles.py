"""CA bundles per cluster, read through a fake `IssuerReader`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from certs_helper import make_ca, make_leaf
from roachcert.bundles import ClusterBundle, cluster_bundles
from roachcert.errors import PemError, VaultError
from roachcert.pem import cert_info
from roachcert.spec import Stack


class FakeReader:
    def __init__(self, pems: dict[tuple[str, str], str]) -> None:
        self.pems = pems
        self.reads: Counter[tuple[str, str]] = Counter()

    def read_issuer_pem(self, mount: str, issuer: str) -> str | None:
        self.reads[(mount, issuer)] += 1
        return self.pems.get((mount, issuer))


def stack(tmp_path: Path, clusters: dict[str, Any], legacy_pem: str | None = None) -> Stack:
    cas: dict[str, Any] = {
        "client-ca": {"mount": "m1", "common_name": "Client CA", "issuers": ["a", "b"]},
        "other-ca": {"mount": "m2", "common_name": "Other CA", "issuers": ["x"]},
    }
    if legacy_pem is not None:
        path = tmp_path / "legacy.pem"
        path.write_text(legacy_pem)
        cas["legacy"] = {"pem_file": str(path)}
    full = {
        name: {"id": f"2186fbdb-598c-4797-a463-aaaee86590{index:02d}", "host": f"{name}.example.test", **spec}
        for index, (name, spec) in enumerate(clusters.items())
    }
    return Stack.model_validate(
        {"version": 1, "cas": cas, "clusters": full, "name": "s", "source": "stacks/s.yaml"}
    )


@pytest.fixture
def pems() -> dict[tuple[str, str], str]:
    return {("m1", "a"): make_ca("CA a")[0], ("m1", "b"): make_ca("CA b")[0], ("m2", "x"): make_ca("CA x")[0]}


def test_each_issuer_is_read_once_for_all_clusters(tmp_path: Path, pems: dict[tuple[str, str], str]) -> None:
    reader = FakeReader(pems)
    spec = stack(
        tmp_path, {"one": {"ca": "client-ca"}, "two": {"ca": "client-ca"}, "three": {"ca": "client-ca"}}
    )
    bundles = cluster_bundles(spec, reader)
    assert list(bundles) == ["one", "two", "three"]
    assert set(reader.reads.values()) == {1}
    assert set(reader.reads) == {("m1", "a"), ("m1", "b")}


def test_bundle_order_sources_and_format(tmp_path: Path, pems: dict[tuple[str, str], str]) -> None:
    legacy = make_ca("Legacy CA")[0]
    spec = stack(tmp_path, {"one": {"ca": ["other-ca", "client-ca", "legacy"]}}, legacy_pem=legacy)
    bundle = cluster_bundles(spec, FakeReader(pems))["one"]
    assert isinstance(bundle, ClusterBundle)
    assert bundle.cluster == "one"
    assert bundle.sources == ("other-ca/x", "client-ca/a", "client-ca/b", "legacy/legacy.pem")
    assert [c.subject_cn for c in bundle.certs] == ["CA x", "CA a", "CA b", "Legacy CA"]
    # The product doc: PEM certificates concatenated with a blank line between them.
    blocks = bundle.pem.split("\n\n")
    assert len(blocks) == 4
    assert bundle.pem.endswith("-----END CERTIFICATE-----\n")
    assert [cert_info(b).subject_cn for b in blocks] == ["CA x", "CA a", "CA b", "Legacy CA"]
    assert bundle.warnings == ()


def test_only_requested_clusters_are_read(tmp_path: Path, pems: dict[tuple[str, str], str]) -> None:
    reader = FakeReader(pems)
    spec = stack(tmp_path, {"one": {"ca": "client-ca"}, "two": {"ca": "other-ca"}})
    assert list(cluster_bundles(spec, reader, clusters=["two"])) == ["two"]
    assert set(reader.reads) == {("m2", "x")}


def test_missing_issuers_name_them_and_say_to_run_ensure(
    tmp_path: Path, pems: dict[tuple[str, str], str]
) -> None:
    del pems[("m1", "b")]
    del pems[("m2", "x")]
    spec = stack(tmp_path, {"one": {"ca": ["client-ca", "other-ca"]}})
    with pytest.raises(VaultError) as caught:
        cluster_bundles(spec, FakeReader(pems))
    message = str(caught.value)
    assert "client-ca/b (mount m1)" in message
    assert "other-ca/x (mount m2)" in message
    assert "roachcert ca ensure stacks/s.yaml" in message
    assert "\n" not in message


def test_vault_pem_is_checked(tmp_path: Path, pems: dict[tuple[str, str], str]) -> None:
    ca_pem, ca_key = make_ca("CA a")
    pems[("m1", "a")] = make_leaf("root", ca_pem, ca_key)[0]  # not a CA
    spec = stack(tmp_path, {"one": {"ca": "client-ca"}})
    with pytest.raises(PemError, match="client-ca/a"):
        cluster_bundles(spec, FakeReader(pems))


def test_same_certificate_twice_is_kept_once_with_a_warning(
    tmp_path: Path, pems: dict[tuple[str, str], str]
) -> None:
    spec = stack(tmp_path, {"one": {"ca": ["client-ca", "legacy"]}}, legacy_pem=pems[("m1", "a")])
    bundle = cluster_bundles(spec, FakeReader(pems))["one"]
    assert bundle.sources == ("client-ca/a", "client-ca/b")
    assert len(bundle.pem.split("\n\n")) == 2
    assert len(bundle.warnings) == 1
    assert "legacy/legacy.pem" in bundle.warnings[0]
    assert "kept once" in bundle.warnings[0]
    [dup] = bundle.duplicates  # the same, for the reports' alerts
    assert (dup.cert.sha256, dup.source, dup.kept) == (
        cert_info(pems[("m1", "a")]).sha256,
        "legacy/legacy.pem",
        "client-ca/a",
    )


def test_pem_file_with_several_certs_numbers_its_sources(
    tmp_path: Path, pems: dict[tuple[str, str], str]
) -> None:
    legacy = make_ca("L1")[0] + "\n" + make_ca("L2")[0]
    spec = stack(tmp_path, {"one": {"ca": "legacy"}}, legacy_pem=legacy)
    reader = FakeReader(pems)
    bundle = cluster_bundles(spec, reader)["one"]
    assert bundle.sources == ("legacy/legacy.pem#1", "legacy/legacy.pem#2")
    assert not reader.reads


def test_expiring_issuer_warns(tmp_path: Path, pems: dict[tuple[str, str], str]) -> None:
    pems[("m1", "a")] = make_ca("CA a", days=10)[0]
    bundle = cluster_bundles(stack(tmp_path, {"one": {"ca": "client-ca"}}), FakeReader(pems))["one"]
    assert any("client-ca/a" in w and "expires" in w for w in bundle.warnings)
