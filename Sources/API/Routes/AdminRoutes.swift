/// Routes of this area (being built; see issue 7).
enum AdminRoutes {
    static let routes: [APIRoute] = []
}
