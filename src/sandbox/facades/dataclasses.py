"""dataclasses: the class decorator and helpers, over the script's own classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..policy import refuse_member_names
from . import FacadeRun, pick


def members(run: FacadeRun) -> dict[str, object]:
    # Class decorators and helpers over the script's own classes. Left out: make_dataclass (takes a
    # `namespace` of arbitrary class attributes, the route to special methods the analyser refuses).
    import dataclasses

    members = pick(
        "dataclasses", "field fields replace is_dataclass FrozenInstanceError InitVar MISSING KW_ONLY"
    )

    # asdict and astuple, without the deep copy: dataclasses' own pass every other value to
    # copy.deepcopy, whose copy protocol reads __reduce_ex__ from the object (an instance's
    # __dict__ entry included) and then writes, unchecked, onto whatever object that names.
    def plain(value: Any, factory: Callable[[Any], Any], as_dict: bool) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            items = [
                (f.name, plain(getattr(value, f.name), factory, as_dict)) for f in dataclasses.fields(value)
            ]
            return factory(items) if as_dict else factory([item for _, item in items])
        if type(value) in (list, tuple):
            return type(value)(plain(item, factory, as_dict) for item in value)
        if type(value) is dict:
            return {plain(k, factory, as_dict): plain(v, factory, as_dict) for k, v in value.items()}
        return value

    def require_instance(obj: Any, name: str) -> None:
        if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
            raise TypeError(f"{name}() should be called on dataclass instances")

    def asdict(obj: Any, *, dict_factory: Callable[[Any], Any] = dict) -> Any:
        require_instance(obj, "asdict")
        return plain(obj, dict_factory, True)

    def astuple(obj: Any, *, tuple_factory: Callable[[Any], Any] = tuple) -> Any:
        require_instance(obj, "astuple")
        return plain(obj, tuple_factory, False)

    members.update(asdict=asdict, astuple=astuple)

    def dataclass(cls: Any = None, /, **options: Any) -> Any:
        def decorate(target: Any) -> type:
            # Plain classes only: a TypedDict or NamedTuple class keeps typing's ForwardRefs in its
            # annotations, and fields() would hand them out.
            if not (type(target) is type and target in run.made):
                raise TypeError("dataclass() applies only to plain classes defined in the script")
            # Every field is read from the class (its default) and, later, from instances (asdict,
            # match): the names pass the rule before dataclass touches the class. The script's
            # annotations are text (runner.compile_code), so they are a plain dict here.
            refuse_member_names(*target.__dict__.get("__annotations__", {}), private=True)  # noqa: RUF063 - text, not evaluated
            return run.admit(dataclasses.dataclass(target, **options))  # slots=True: a new class

        return decorate if cls is None else decorate(cls)

    members["dataclass"] = dataclass
    return members
