"""Segments: saved conditions over members, counted live, paged, and targeted by bulk jobs."""

from app.segments.service import (
    MAX_SEGMENTS,
    SCAN_LIMIT,
    Segment,
    SegmentInvalid,
    SegmentMember,
    SegmentNotFound,
    TooManySegments,
    count_segment,
    delete_segment,
    get_segment,
    list_segments,
    parse_segment,
    save_segment,
    segment_member_ids,
    segment_page,
    segments_of,
)

__all__ = [
    "MAX_SEGMENTS",
    "SCAN_LIMIT",
    "Segment",
    "SegmentInvalid",
    "SegmentMember",
    "SegmentNotFound",
    "TooManySegments",
    "count_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "parse_segment",
    "save_segment",
    "segment_member_ids",
    "segment_page",
    "segments_of",
]
