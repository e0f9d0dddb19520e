"""A real RTSP server on loopback for the capture tests and the end-to-end benchmarks.

`footage` encodes the shared clips once into H.264 files shaped like camera streams (1080p
main streams, 640x360 substreams, fixed GOPs, constant bitrate, sensor noise); `server` is
the GStreamer rtsp-server run by the system Python (`gi`), serving each file as a live,
looping stream with faults on demand; `RtspBench` starts it on a free port and drives it.
"""
