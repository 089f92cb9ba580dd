"""What the bridge does at start with the identity it holds against the one published."""

from bridge.matrix.e2ee.identity import CrossSigningSeeds, IdentityAction, decide


def test_every_combination():
    assert decide("A", "A") is IdentityAction.KEEP
    assert decide("A", None) is IdentityAction.PUBLISH
    assert decide("A", "B") is IdentityAction.REPUBLISH
    assert decide(None, None) is IdentityAction.CREATE
    assert decide(None, "B") is IdentityAction.REPLACE_LOST


def test_seeds_round_trip_and_refuse_a_wrong_length():
    seeds = CrossSigningSeeds.generate()
    assert CrossSigningSeeds.from_bytes(seeds.to_bytes()) == seeds
    signers = seeds.signers()
    assert signers.master_public != signers.self_signing_public
    try:
        CrossSigningSeeds.from_bytes(b"\0" * 95)
    except ValueError:
        pass
    else:
        raise AssertionError("a short seed blob was taken")
