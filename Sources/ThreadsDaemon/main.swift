print("threadsd")
