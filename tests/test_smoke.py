import sandbox


def test_print():
    assert sandbox.execute("print('hi')").output == "hi"
