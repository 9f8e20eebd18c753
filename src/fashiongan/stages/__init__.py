"""Pipeline stages, one thin module each: load config, call the library, write outputs, log."""
