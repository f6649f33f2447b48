print("model ok")
