"""The API's `prediction` field reaches the engine as text; bad shapes are rejected with a 400."""

from __future__ import annotations

import pytest

from codespark.api.service import prediction_text, usage_dict
from codespark.engine import Usage
from codespark.protocol.errors import APIError


def test_prediction_text_accepts_string_and_text_parts():
    assert prediction_text(None) is None
    assert prediction_text({"type": "content", "content": "def f():\n    pass\n"}) == "def f():\n    pass\n"
    assert prediction_text({"type": "content", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "ab"


@pytest.mark.parametrize("bad", [{"type": "audio", "content": "x"}, {"type": "content", "content": 3},
                                 {"type": "content", "content": [{"type": "text"}]}])
def test_prediction_text_rejects_other_shapes(bad):
    with pytest.raises(APIError) as exc:
        prediction_text(bad)
    assert exc.value.status == 400 and exc.value.param.startswith("prediction")


def test_usage_reports_draft_tokens_under_openai_names():
    usage = Usage(input_tokens=10, output_tokens=5, accepted_prediction_tokens=3, rejected_prediction_tokens=2)
    d = usage_dict(usage, {"accepted_prediction_tokens": 3, "rejected_prediction_tokens": 2})
    assert d["output_tokens_details"]["accepted_prediction_tokens"] == 3
    assert d["output_tokens_details"]["rejected_prediction_tokens"] == 2
