"""Reading one reply (``_answers``): the direct path agrees with the CNAME chain's."""

from __future__ import annotations

import pycares
from hypothesis import given
from hypothesis import strategies as st

from asyncdns_connect._answers import BadAnswer, Chain, direct_reply, positive_reply

A, AAAA, CNAME = pycares.QUERY_TYPE_A, pycares.QUERY_TYPE_AAAA, pycares.QUERY_TYPE_CNAME
_owners = st.sampled_from(["a.test", "A.Test.", "b.test", "a.test.search.example", "x.a.test"])
_records = st.lists(
    st.tuples(_owners, st.sampled_from([A, A, A, AAAA, CNAME]), st.integers(0, 86400),
              st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", "b.test"])),
    min_size=1, max_size=5)


@given(_records, st.sampled_from([A, AAAA]))
def test_direct_reply_is_what_a_new_chain_gives(records: list[tuple[str, int, int, str]],
                                                qtype: int) -> None:
    direct = direct_reply(records, "a.test", qtype)
    chain = Chain("a.test", qtype)
    try:
        follow = chain.follow(records, "a.test", True)
    except BadAnswer:
        assert direct is None
        return
    if direct is not None:
        # Taken only where the chain ends at once with the same addresses and TTL.
        assert follow is None
        assert direct == positive_reply(chain, None)


def test_direct_reply_of_the_common_answer() -> None:
    records = [("a.test", A, 300, "192.0.2.1"), ("a.test", A, 60, "192.0.2.2")]
    reply = direct_reply(records, "a.test", A)
    assert reply is not None and reply.ok
    assert (reply.addrs, reply.ttl) == (("192.0.2.1", "192.0.2.2"), 60)


def test_direct_reply_leaves_cnames_and_other_names_to_the_chain() -> None:
    assert direct_reply([("a.test", CNAME, 300, "b.test"), ("b.test", A, 300, "192.0.2.1")],
                        "a.test", A) is None
    assert direct_reply([("b.test", A, 300, "192.0.2.1")], "a.test", A) is None
    assert direct_reply([("a.test", AAAA, 300, "2001:db8::1")], "a.test", A) is None
