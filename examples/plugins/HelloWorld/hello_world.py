def main(window, document, settings):
    window.warning(
        settings["greeting"]
    )
