"""Response models of the HTTP API (they document the JSON in the OpenAPI schema)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FaceOut", "FacesResponse", "HealthResponse", "Limits"]


class FaceOut(BaseModel):
    """One face in the uploaded image (fields the analyser adds, e.g. landmarks, pass through)."""

    model_config = ConfigDict(extra="allow")

    box: list[int] = Field(description="[x, y, w, h] in pixels of the uploaded image")
    label: str = Field(description="most probable expression")
    probabilities: dict[str, float] = Field(description="probability per class (sums to 1)")
    aligned: bool = Field(description="whether the crop was rotated to level the eyes")
    landmarks: list[list[float]] | None = Field(
        None, description="[[x, y], ...] facial landmarks in pixels of the uploaded image (landmark front-end)")
    pose: dict[str, float] | None = Field(
        None, description="head pose in degrees: yaw (> 0 turned to the image's right), pitch (> 0 down), "
                          "roll (> 0 clockwise) (landmark front-end)")


class FacesResponse(BaseModel):
    """Faces found in an image; ``status`` is ``ok`` or ``no_face``."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(description="the uploaded file name")
    status: str
    faces: list[FaceOut]
    image_size: list[int] | None = Field(None, description="[width, height]")
    model: str | None = None
    seconds: float = Field(description="time spent detecting and classifying")
    heatmap_png: str | None = Field(None, description="Grad-CAM overlay as a data: URL (heatmap=true)")


class Limits(BaseModel):
    max_upload_bytes: int
    max_pixels: int
    max_pixels_in_flight: int
    timeout_s: float
    torch_threads: int | None = None


class HealthResponse(BaseModel):
    status: str
    version: str
    model: str
    classes: list[str]
    device: str
    limits: Limits
    api_key_required: bool = Field(False, description="requests to /v1 need 'Authorization: Bearer <key>'")
    capabilities: dict[str, bool]
    unavailable: dict[str, str]
