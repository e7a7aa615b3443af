#!/usr/bin/env bash
# Run a command with headless PulseAudio virtual devices (docs/audio-devices.md):
#   vspk       null sink, the virtual speaker; record "vspk.monitor" to hear what was played
#   vmic_sink  null sink that feeds the virtual microphone; play into it to "speak"
#   vmic       remap-source on vmic_sink.monitor, the virtual microphone
# PULSE_SINK/PULSE_SOURCE point this command's streams at vspk / vmic (and a daemon started
# here also makes them the defaults), so PortAudio's "default" devices (ALSA -> pulse plugin)
# use them without changing a desktop session's defaults. An already-running daemon is
# reused (missing devices are added to it). Exports ZEGO_PULSE=1 when the devices are ready;
# without pulseaudio it just runs the command so the device tests skip with a reason.
#
# Usage: scripts/with-pulseaudio.sh CMD [ARGS...]
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi

log() { echo "with-pulseaudio: $*" >&2; }

if ! command -v pulseaudio >/dev/null 2>&1 || ! command -v pactl >/dev/null 2>&1; then
    log "pulseaudio/pactl not installed (run scripts/install-system-deps.sh); running without"
    exec "$@"
fi

pa_ready() { pactl info >/dev/null 2>&1; }

started_here=0
if ! pa_ready; then
    started_here=1
    logfile="${TMPDIR:-/tmp}/zego-pulseaudio.log"
    # As root without --system, as measured in docs/audio-devices.md: a per-user daemon that
    # never exits on idle, so later invocations reuse it.
    pulseaudio -D --exit-idle-time=-1 --disallow-exit -n \
        --load=module-native-protocol-unix \
        --load="module-null-sink sink_name=vspk rate=48000 sink_properties=device.description=vspk" \
        --load="module-null-sink sink_name=vmic_sink rate=48000 sink_properties=device.description=vmic_sink" \
        --load="module-remap-source master=vmic_sink.monitor source_name=vmic source_properties=device.description=vmic" \
        >"$logfile" 2>&1 || log "pulseaudio -D failed (see $logfile)"
    for _ in $(seq 1 100); do  # bounded: 100 x 0.05 s = 5 s (it is ready in ~0.04 s)
        pa_ready && break
        sleep 0.05
    done
fi

if ! pa_ready; then
    log "PulseAudio did not become ready; running without it (device tests will skip)"
    [ -n "${logfile:-}" ] && [ -s "$logfile" ] && sed 's/^/  pulseaudio: /' "$logfile" >&2
    exec "$@"
fi

# A reused daemon (e.g. a desktop session) may lack our devices: add whatever is missing.
has() { pactl list short "$1" 2>/dev/null | awk '{print $2}' | grep -qx "$2"; }
has sinks vspk || pactl load-module module-null-sink sink_name=vspk rate=48000 \
    sink_properties=device.description=vspk >/dev/null
has sinks vmic_sink || pactl load-module module-null-sink sink_name=vmic_sink rate=48000 \
    sink_properties=device.description=vmic_sink >/dev/null
has sources vmic || pactl load-module module-remap-source master=vmic_sink.monitor \
    source_name=vmic source_properties=device.description=vmic >/dev/null

if has sinks vspk && has sinks vmic_sink && has sources vmic; then
    if [ "$started_here" = 1 ]; then
        # our own headless daemon: make the virtual devices the defaults
        pactl set-default-sink vspk
        pactl set-default-source vmic
    fi
    # A reused daemon (a desktop session) keeps its defaults; this command's PulseAudio
    # clients (PortAudio via the ALSA pulse plugin) use the virtual devices through these.
    export PULSE_SINK=vspk PULSE_SOURCE=vmic
    export ZEGO_PULSE=1
else
    log "could not create the virtual devices; running without them (device tests will skip)"
fi

exec "$@"
