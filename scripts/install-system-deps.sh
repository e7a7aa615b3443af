#!/usr/bin/env bash
# Install the Debian packages the real-device audio path needs (docs/audio-devices.md):
#   libportaudio2        sounddevice's native library (without it: ZegoError 1103061)
#   pulseaudio           headless sound server providing virtual mic/speaker devices
#   pulseaudio-utils     pactl / paplay / parec, used by scripts/with-pulseaudio.sh and tests
#   libasound2-plugins   ALSA "pulse" plugin, so PortAudio's ALSA backend reaches PulseAudio
#   libopus0             libopus for the players' loss concealment and FEC (via opuslib-next)
# and the TURN test's server (docs/troubleshooting.md, "Through a TURN server"):
#   coturn               `turnserver`, started by tests/test_turn.py on 127.0.0.1 only
# and the browser tests' browser (docs/browser.md):
#   chromium             headless Chromium that tests/test_browser.py drives through Playwright
#                        (executable_path=/usr/bin/chromium; no `playwright install` download)
# and offline speech for the voice agent (examples/agent_bot.py, tests/test_agent_bot.py)
# and for the speech sample bench/quality.py scores with PESQ:
#   espeak-ng            offline text-to-speech
# Idempotent: does nothing when everything is installed. Without root or sudo it prints the
# command to run and exits 0, so the device tests skip with a reason instead of failing CI.
set -euo pipefail

AUDIO_PACKAGES=(libportaudio2 libopus0 pulseaudio pulseaudio-utils libasound2-plugins)
BROWSER_PACKAGES=(chromium)
NETWORK_PACKAGES=(coturn)
SPEECH_PACKAGES=(espeak-ng)
PACKAGES=("${AUDIO_PACKAGES[@]}" "${BROWSER_PACKAGES[@]}" "${NETWORK_PACKAGES[@]}" "${SPEECH_PACKAGES[@]}")

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian/Ubuntu system (no dpkg-query)." >&2
    echo "install-system-deps: install the equivalents of: ${PACKAGES[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-system-deps: all present (${PACKAGES[*]})"
    exit 0
fi

echo "install-system-deps: missing: ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install-system-deps: not root and no passwordless sudo; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    echo "install-system-deps: device and browser tests will be skipped until then." >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-system-deps: installed ${missing[*]}"
