"""pytest plugin of esi.testing (fixtures that start the simulator); filled by the simulator issue."""
