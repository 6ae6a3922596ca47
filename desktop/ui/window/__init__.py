"""The main window's controllers: files, recovery, bulk runs, import and export."""
