from distillery.cli.main import app

app()
