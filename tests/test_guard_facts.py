"""The guard facts' pure parts: one reading of a status, the hand-set record and what drops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from certs_helper import make_ca
from roachcert import guard_facts as gf
from roachcert.cloud.client import ClientCaStatus
from roachcert.cloud.drift import observe_clusters
from roachcert.cloud.reads import read_clusters
from roachcert.errors import CloudError, GuardError
from roachcert.plan_summary import PlanSummary, ResourceChange
from roachcert.spec.models import Stack

HAND, DECLARED, OTHER = make_ca("Hand")[0], make_ca("Declared")[0], make_ca("Other")[0]


def _change(action: str, old: str | None, new: str | None, new_id: str | None = "id-1") -> ResourceChange:
    return ResourceChange(
        address="cockroach_client_ca_cert.c",
        cluster="c",
        action=action,  # type: ignore[arg-type]
        old_id="id-1",
        new_id=new_id,
        old_pem=old,
        new_pem=new,
    )


@pytest.mark.parametrize("status", ["RESTORING", "is_set", " IS_SET"])
def test_a_status_none_of_the_four_stops_every_reader_in_one_line(status: str) -> None:
    def get(_cluster_id: str) -> ClientCaStatus:
        return ClientCaStatus(status, HAND)

    with pytest.raises(CloudError) as caught:
        read_clusters({"c": "id-1"}, get)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(
        f"c (id-1): the Cloud API answered an unknown client CA status {status!r}"
    )


def test_an_unknown_status_with_a_control_character_is_escaped_once() -> None:
    def get(_cluster_id: str) -> ClientCaStatus:
        return ClientCaStatus("RESTO\x1b[31mRING", HAND)

    with pytest.raises(CloudError) as caught:
        read_clusters({"c": "id-1"}, get)
    assert "status 'RESTO\\x1b[31mRING'" in str(caught.value)
    assert "\\\\x1b" not in str(caught.value)


def test_an_empty_status_is_not_set_for_plan_and_status_alike() -> None:
    stack = Stack.model_validate(
        {
            "version": 1,
            "cas": {"d": {"pem_file": "/dev/null"}},
            "clusters": {"c": {"id": "1b4e28ba-2fa1-4d2b-883f-0016d3cca427", "ca": "d", "host": "h.example"}},
        }
    )
    [row] = observe_clusters(stack, {"c": DECLARED}, lambda _id: ClientCaStatus("", ""))
    assert row.result.state == "not_set"


def test_the_record_keeps_what_is_not_declared_and_what_the_cluster_still_trusts(tmp_path: Path) -> None:
    met = gf.Observed("c", "id-1", "IS_SET", HAND + DECLARED, DECLARED)
    facts = gf.observe(tmp_path, {"c": DECLARED}, [met], found=["c"])
    assert [cert.subject for cert in facts["c"].certs] == ["CN=Hand"]
    assert gf.load_hand_set(tmp_path) == facts
    # Another plan, same read: kept. A read without it: that certificate leaves the record.
    assert gf.observe(tmp_path, {"c": DECLARED}, [met]) == facts
    gone = gf.Observed("c", "id-1", "IS_SET", DECLARED, DECLARED)
    assert gf.observe(tmp_path, {"c": DECLARED}, [gone]) == {}
    assert not (tmp_path / gf.HAND_SET_FILE).exists()


@pytest.mark.parametrize(
    ("status", "pem"),
    [
        ("FAILED", ""),  # a failed change keeps the CA in force; the API may show it blank
        ("IS_SET", ""),
        ("PENDING", ""),
        ("IS_SET", "5"),  # an answer whose bundle cannot be read
    ],
)
def test_a_read_that_does_not_show_the_trusted_bundle_keeps_the_record(
    tmp_path: Path, status: str, pem: str
) -> None:
    met = gf.Observed("c", "id-1", "IS_SET", HAND, DECLARED)
    facts = gf.observe(tmp_path, {"c": DECLARED}, [met], found=["c"])
    assert gf.observe(tmp_path, {"c": DECLARED}, [gf.Observed("c", "id-1", status, pem, DECLARED)]) == facts
    assert gf.load_hand_set(tmp_path) == facts


def test_a_not_set_read_ends_the_record(tmp_path: Path) -> None:
    gf.observe(tmp_path, {"c": DECLARED}, [gf.Observed("c", "id-1", "IS_SET", HAND, DECLARED)], found=["c"])
    assert gf.observe(tmp_path, {"c": DECLARED}, [gf.Observed("c", "id-1", "NOT_SET", "", DECLARED)]) == {}


def test_declaring_the_certificates_ends_the_record(tmp_path: Path) -> None:
    gf.observe(tmp_path, {"c": DECLARED}, [gf.Observed("c", "id-1", "IS_SET", HAND, DECLARED)], found=["c"])
    assert gf.observe(tmp_path, {"c": DECLARED + HAND}) == {}


def test_what_drops_a_hand_set_certificate(tmp_path: Path) -> None:
    facts = gf.observe(
        tmp_path, {"c": DECLARED}, [gf.Observed("c", "id-1", "IS_SET", HAND, DECLARED)], found=["c"]
    )
    dropping = [
        _change("update", HAND, DECLARED),
        _change("delete", HAND, None, new_id=None),
        _change("replace", HAND, HAND + DECLARED, new_id="id-2"),  # the CA leaves id-1
        _change("create", None, DECLARED),
    ]
    for change in dropping:
        assert gf.drops(PlanSummary(changes=(change,)), facts), change
        with pytest.raises(GuardError, match="--allow-replace-ca"):
            gf.refuse_drops("st", PlanSummary(changes=(change,)), facts)
    keeping = [
        _change("update", HAND, HAND + DECLARED),
        _change("forget", HAND, None, new_id=None),
        _change("no-op", HAND, HAND),
    ]
    for change in keeping:
        assert not gf.drops(PlanSummary(changes=(change,)), facts), change


def test_a_plan_that_adopts_carries_its_own_fact_without_a_record() -> None:
    adoption = ResourceChange(
        "cockroach_client_ca_cert.c", "c", "update", "id-1", "id-1", HAND, DECLARED, adopted=True
    )
    facts = gf.in_plan(PlanSummary(changes=(adoption,)), {})
    assert [cert.subject for cert in facts["c"].certs] == ["CN=Hand"]


def test_an_unreadable_record_refuses_rather_than_forgets(tmp_path: Path) -> None:
    (tmp_path / gf.HAND_SET_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(GuardError, match="record of CAs set by hand"):
        gf.load_hand_set(tmp_path)


def test_a_plan_made_without_reading_is_refused_unless_allowed() -> None:
    with pytest.raises(GuardError) as caught:
        gf.check_unread("st", cloud_read=False, allowed=False)
    assert "plan again without --no-cloud-read" in str(caught.value)
    assert "\n" not in str(caught.value)
    gf.check_unread("st", cloud_read=False, allowed=True)
    gf.check_unread("st", cloud_read=True, allowed=False)


@pytest.mark.parametrize(
    "text",
    [
        '{"clusters": [1]}',
        '{"clusters": "x"}',
        '{"clusters": {"c": {"certificates": 5}}}',
        '{"clusters": {"c": {"certificates": [{"sha256": {"a": 1}}]}}}',
        '{"clusters": {"c": "x"}}',
        "[]",
        "null",
    ],
)
def test_a_record_edited_into_another_shape_refuses_in_one_line(tmp_path: Path, text: str) -> None:
    """A hand edit is outside input: never an internal error, and never read as "nothing set by hand"."""
    (tmp_path / gf.HAND_SET_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(GuardError, match="record of CAs set by hand") as caught:
        gf.load_hand_set(tmp_path)
    assert "\n" not in str(caught.value)


def test_a_record_as_written_reads_back(tmp_path: Path) -> None:
    fact = gf.HandSet("c", "id-1", (gf.HandSetCert("ab" * 32, "CN=Hand", "2030-01-01"),))
    gf.save_hand_set(tmp_path, {"c": fact})
    assert gf.load_hand_set(tmp_path) == {"c": fact}


# -- the unseen CA and the record of clusters roachcert set ---------------------------------------------


def _read(status: str, pem: str = "", cluster: str = "c", cluster_id: str = "id-1") -> gf.Observed:
    return gf.Observed(cluster, cluster_id, status, pem, DECLARED)


def test_only_an_untracked_failed_blank_cluster_roachcert_never_set_is_unseen() -> None:
    reads = [
        _read("FAILED", cluster="a", cluster_id="id-a"),
        _read("FAILED", cluster="ours", cluster_id="id-ours"),  # its own failed first create
        _read("FAILED", "  \n", cluster="in-state", cluster_id="id-s"),
        _read("FAILED", HAND, cluster="shown", cluster_id="id-shown"),  # shown: adoption's case
        _read("NOT_SET", cluster="fresh", cluster_id="id-f"),
    ]
    untracked = ["a", "ours", "shown", "fresh"]
    assert gf.unseen_clusters(reads, untracked, {"id-ours": "ours"}) == ["a"]


def test_an_unseen_ca_survives_the_record_and_blank_reads_and_ends_on_a_read_that_tells(
    tmp_path: Path,
) -> None:
    facts = gf.observe(tmp_path, {"c": DECLARED}, [_read("FAILED")], unseen=["c"])
    assert facts["c"].certs == (gf.UNSEEN,)
    assert gf.load_hand_set(tmp_path) == facts  # written and read back
    for still_unknown in ("FAILED", "PENDING"):
        assert gf.observe(tmp_path, {"c": DECLARED}, [_read(still_unknown)])["c"].certs == (gf.UNSEEN,)
    # Any change on the cluster drops it: consent, like a certificate set by hand.
    summary = PlanSummary(changes=(_change("create", None, DECLARED),))
    [(fact, cert)] = gf.drops(summary, facts)
    assert (fact.cluster, cert.unseen) == ("c", True)
    with pytest.raises(
        GuardError, match="may trust a CA set outside roachcert that the Cloud API does not show"
    ):
        gf.refuse_drops("st", summary, facts)
    assert gf.observe(tmp_path, {"c": DECLARED}, [_read("NOT_SET")]) == {}
    assert not (tmp_path / gf.HAND_SET_FILE).exists()
    # Left out of the stack (no state tracks it), nothing will change it: the fact ends.
    gf.observe(tmp_path, {"c": DECLARED}, [_read("FAILED")], unseen=["c"])
    assert gf.observe(tmp_path, {}, []) == {}


def test_the_set_by_us_record_adds_before_apply_and_ends_on_delete_forget_or_a_move(tmp_path: Path) -> None:
    moved = ResourceChange("a.m", "m", "replace", old_id="id-old", new_id="id-new", new_pem=DECLARED)
    summary = PlanSummary(
        changes=(
            _change("create", None, DECLARED),
            moved,
            ResourceChange("a.d", "d", "delete", old_id="id-d", old_pem=DECLARED),
            ResourceChange("a.n", "n", "no-op", old_id="id-n", new_id="id-n", adopted=True),
            ResourceChange("a.q", "q", "no-op", old_id="id-q", new_id="id-q"),
        )
    )
    assert gf.setting(summary) == {"id-1": "c", "id-new": "m", "id-n": "n"}
    assert gf.tracked(summary) == {"id-old": "m", "id-n": "n", "id-q": "q"}
    assert gf.removed(summary) == ["id-old", "id-d"]
    gf.record_set_by_us(tmp_path, {"id-old": "m", "id-d": "d"})
    gf.record_set_by_us(tmp_path, gf.setting(summary))
    gf.record_set_by_us(tmp_path, {}, gf.removed(summary))
    assert gf.load_set_by_us(tmp_path) == {"id-1": "c", "id-new": "m", "id-n": "n"}
    gf.record_set_by_us(tmp_path, {}, ["id-1", "id-new", "id-n"])
    assert not (tmp_path / gf.SET_BY_US_FILE).exists()


@pytest.mark.parametrize("text", ["{", "[]", '{"clusters": {"id-1": 3}}', '{"clusters": []}'])
def test_an_unreadable_set_by_us_record_is_refused_never_read_as_empty(tmp_path: Path, text: str) -> None:
    (tmp_path / gf.SET_BY_US_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(GuardError, match="the record of clusters whose CA roachcert set"):
        gf.load_set_by_us(tmp_path)


def test_status_reads_not_set_as_not_set_yet_only_on_a_cluster_roachcert_never_set() -> None:
    from roachcert.cloud.drift import compare

    assert compare(DECLARED, ClientCaStatus("NOT_SET", ""), ever_set=False).state == "not_set_yet"
    assert compare(DECLARED, ClientCaStatus("NOT_SET", ""), ever_set=True).state == "not_set"
    failed = compare(DECLARED, ClientCaStatus("FAILED", ""), ever_set=False)
    assert (failed.state, failed.detail.startswith(gf.UNSEEN_LINE)) == ("failed", True)
