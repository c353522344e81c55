import MM1ConvCommands

MM1Conv.main()
