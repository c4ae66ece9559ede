"""The scale benchmark (issue 13): seed millions of report rows, drive the app, measure."""
