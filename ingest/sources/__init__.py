"""Where items come from: feeds, JSON APIs, comment streams, files and the simulator."""
