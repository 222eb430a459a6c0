"""Key access for output models: ``output["improvements_applied"]`` as well as attributes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ModelSubscriptable(BaseModel):
    """A base for models that are also read like the dicts the original API returned.

    Only declared fields are keys; anything else (an unknown name, a property, a method) raises
    ``KeyError`` the way a dict would.
    """

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)
