"""The criteria builder: the tree model of its rows and the htmx endpoints it talks to."""
