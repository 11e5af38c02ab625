from webadmin import create_app
app = create_app()
