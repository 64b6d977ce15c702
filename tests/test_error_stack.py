"""The error stack on a failed attempt's span: the innermost frames in the layout of Python's
own tracebacks, kept per failure place so a 429 storm does not format the same stack again."""

import traceback

from ddllm.instrument import spans


def _caught(function, *args):
    try:
        function(*args)
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def fail_here():
    raise ValueError("here")


def fail_there():
    raise ValueError("there")


def recurse(depth):
    if depth == 0:
        fail_here()
    recurse(depth - 1)


def python_layout(tb, frames):
    """Python's traceback layout of the innermost `frames` frames, every frame printed (no
    "[Previous line repeated]" folding) and without 3.11's caret lines."""
    return "".join(
        '  File "%s", line %d, in %s\n    %s\n' % (frame.filename, frame.lineno, frame.name, frame.line)
        for frame in traceback.extract_tb(tb)[-frames:]
    )


def test_stack_text_is_pythons_layout_of_the_innermost_frames():
    shallow = _caught(fail_here)
    assert spans._innermost_frames(shallow.__traceback__) == python_layout(shallow.__traceback__, 8)
    deep = _caught(recurse, 12)
    text = spans._innermost_frames(deep.__traceback__)
    assert text == python_layout(deep.__traceback__, 8)
    assert text.count('  File "') == 8 and text.rstrip().endswith('raise ValueError("here")')


def test_same_place_gives_the_kept_text_and_another_place_its_own():
    first, again, other = _caught(fail_here), _caught(fail_here), _caught(fail_there)
    text = spans._innermost_frames(first.__traceback__)
    assert spans._innermost_frames(again.__traceback__) is text
    other_text = spans._innermost_frames(other.__traceback__)
    assert "in fail_there" in other_text and "in fail_there" not in text


def test_kept_places_are_bounded():
    for number in range(spans._STACK_PLACES + 50):
        namespace = {}
        exec("def fail_%d():\n    raise ValueError(%d)\n" % (number, number), namespace)  # a new code object each
        exc = _caught(namespace["fail_%d" % number])
        assert "in fail_%d\n" % number in spans._innermost_frames(exc.__traceback__)
        assert len(spans._stack_text_by_place) <= spans._STACK_PLACES
