"""specgate plugin for NMEA 0183 GPS receivers and trackers (GGA, RMC and VTG sentences over TCP)."""
