"""Tag normalisation (shared by spans and metrics) and the per-key cardinality cap."""

import logging
import re
import threading

from hypothesis import given
from hypothesis import strategies as st

from ddllm.instrument.tags import MAX_TAG_LENGTH, OVERFLOW_VALUE, TagCardinalityCap, normalize_tag, normalize_tag_value

TAG_VALUE = re.compile(r"[A-Za-z0-9_\-:./]*")


@given(st.text(max_size=400))
def test_any_text_becomes_a_tag_value(text):
    value = normalize_tag_value(text)
    assert TAG_VALUE.fullmatch(value)
    assert len(value) <= MAX_TAG_LENGTH
    assert normalize_tag_value(value) == value


@given(st.text(alphabet="abcXYZ019_-:./", max_size=200))
def test_a_valid_value_is_kept_as_it_is(text):
    assert normalize_tag_value(text) == text


def test_model_names_as_providers_spell_them():
    assert normalize_tag_value("claude-3-5-sonnet@20240620") == "claude-3-5-sonnet_20240620"
    assert normalize_tag_value("anthropic.claude-3-sonnet-20240229-v1:0") == "anthropic.claude-3-sonnet-20240229-v1:0"
    assert normalize_tag_value("ft:gpt-4o-mini:org:custom:abc") == "ft:gpt-4o-mini:org:custom:abc"
    assert normalize_tag_value("Meta-Llama-3.1-8B-Instruct") == "Meta-Llama-3.1-8B-Instruct"  # case kept
    assert normalize_tag_value("my model, v2|beta #1") == "my_model_v2_beta_1"  # DogStatsD separators gone
    assert normalize_tag_value("modèle") == "mod_le"
    assert normalize_tag_value(True) == "True"


def test_a_whole_tag_fits_in_200_characters():
    tag = normalize_tag("from_model", "x" * 500)
    assert len(tag) == MAX_TAG_LENGTH and tag.startswith("from_model:x")


def test_cap_keeps_the_first_values_per_key_and_warns_once_per_key(caplog):
    cap = TagCardinalityCap(200)
    with caplog.at_level(logging.WARNING, logger="ddllm"):
        model_tags = [cap.tag("model", "model-%d" % index) for index in range(1000)]
        provider_tags = [cap.tag("provider", "provider-%d" % (index % 5)) for index in range(1000)]
        again = [cap.tag("model", "model-%d" % index) for index in range(1000)]
    assert model_tags == again
    assert model_tags[:200] == ["model:model-%d" % index for index in range(200)]
    assert set(model_tags[200:]) == {"model:" + OVERFLOW_VALUE}
    assert len(set(provider_tags)) == 5
    assert cap.kept_values("model") == {"model-%d" % index for index in range(200)}
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        "ddllm: metric tag 'model' reached 200 distinct values (DDLLM_METRIC_TAG_LIMIT); "
        "further new values are sent as 'other'"
    ]


def test_cap_counts_normalised_values():
    cap = TagCardinalityCap(2)
    assert [cap.tag("model", raw) for raw in ("a b", "a_b", "a@b", "c", "d")] == [
        "model:a_b",
        "model:a_b",
        "model:a_b",
        "model:c",
        "model:other",
    ]


def test_cap_holds_under_concurrent_new_values():
    cap = TagCardinalityCap(50)
    tags = []

    def send(worker):
        tags.extend(cap.tag("model", "m-%d-%d" % (worker, index)) for index in range(200))

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tags) - {"model:other"}) == 50
    assert len(cap.kept_values("model")) == 50
