print("graphc")
