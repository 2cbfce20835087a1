"""The owner rules, the teacher key and the estimated starts: pure functions, no Ray."""

import math

import pytest

from cifar_cnn.classroom.estimate import estimated_starts, expected_seconds
from cifar_cnn.classroom.permissions import MAX_UNFINISHED_PER_STUDENT, Visitor, configured_key, key_matches


def test_without_a_teacher_key_everyone_may_do_everything():
    visitor = Visitor(name="", key_configured=False)
    assert visitor.single_user and visitor.may_control("ada") and visitor.may_control("")
    assert visitor.training_refusal(unfinished_jobs=500) == ""


def test_with_a_teacher_key_a_student_controls_only_their_own():
    ada = Visitor(name="ada", key_configured=True)
    assert ada.may_control("ada") and not ada.may_control("bob") and not ada.may_control("")
    nameless = Visitor(name="", key_configured=True)
    assert not nameless.may_control("") and "Enter your name" in nameless.training_refusal()
    teacher = Visitor(name="", is_teacher=True, key_configured=True)
    assert teacher.may_control("bob") and teacher.training_refusal(unfinished_jobs=500) == ""


def test_a_student_may_not_fill_the_class_queue():
    ada = Visitor(name="ada", key_configured=True)
    assert ada.training_refusal(unfinished_jobs=MAX_UNFINISHED_PER_STUDENT - 1) == ""
    assert "at most 10 at once" in ada.training_refusal(unfinished_jobs=MAX_UNFINISHED_PER_STUDENT - 4, new_jobs=5)


def test_the_teacher_key_comes_from_the_environment_first_and_must_match_whole(monkeypatch):
    monkeypatch.delenv("CIFAR_CNN_TEACHER_KEY", raising=False)
    assert configured_key(None) == "" and configured_key(" from-secrets\n") == "from-secrets"
    monkeypatch.setenv("CIFAR_CNN_TEACHER_KEY", "owl-42")
    assert configured_key("from-secrets") == "owl-42"
    assert key_matches("owl-42", "owl-42") and key_matches(" owl-42 ", "owl-42")
    for wrong in ("owl-4", "owl-420", "", "OWL-42"):
        assert not key_matches(wrong, "owl-42")
    assert not key_matches("", "")  # no key configured: nobody is the teacher by entering nothing


def test_waiting_jobs_start_as_places_free_up_in_line_order():
    # two places: the running jobs end in 10 s and 40 s; the waiting ones take 20, 5 and 100 s
    assert estimated_starts([10, 40], [20, 5, 100], concurrency=2) == [10, 30, 35]


def test_a_free_place_starts_the_first_waiting_job_now():
    assert estimated_starts([], [60, 60], concurrency=1) == [0, 60]
    assert estimated_starts([30], [60], concurrency=3) == [0]


def test_after_concurrency_is_lowered_the_extra_running_jobs_must_end_first():
    assert estimated_starts([10, 20, 30], [5], concurrency=2) == [20]


def test_an_unknown_duration_makes_that_start_and_later_ones_unknown():
    assert estimated_starts([10], [None, 5], concurrency=1) == [10, None]
    assert estimated_starts([None], [5], concurrency=1) == [None]
    assert estimated_starts([None, 10], [5, 5], concurrency=2) == [10, 15]  # the other place frees up on time


@pytest.mark.parametrize("epochs, minutes, speed, expected", [
    (10, None, 1000.0, 10 * 5000 / 1000 + 20),  # epochs at the speed seen
    (1000, 2.0, 1000.0, 120 + 20),  # a time budget ends first
    (1000, 2.0, None, 120 + 20),  # a budget needs no speed
    (10, None, None, None),  # epochs without a speed: unknown
])
def test_expected_seconds(epochs, minutes, speed, expected):
    result = expected_seconds(epochs, minutes, 5000, speed, overhead_s=20)
    assert result == expected or (expected is not None and math.isclose(result, expected))
