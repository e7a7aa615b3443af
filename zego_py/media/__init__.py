"""Local media: the software mixer and the PortAudio microphone/speaker devices."""
